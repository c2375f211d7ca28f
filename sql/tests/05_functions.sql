-- The veles_* functions.
-- 5.0 conversions
SELECT veles_vec('[1, -2, 0.5]');
SELECT veles_json(x'0000803f000000c0');
SELECT veles_dim('[1,2,3]');
SELECT veles_json(veles_normalize('[3,4]'));
SELECT veles_vec(NULL) IS NULL, veles_json(NULL) IS NULL;

-- 5.1 distances
SELECT veles_distance('[0,0]', '[3,4]');
SELECT veles_distance('[1,2,3]', '[4,5,6]', 'dot');
SELECT veles_distance('[1,0]', '[0,1]', 'cosine');
SELECT veles_distance('[1,0]', '[1,0]', 'COSINE');
SELECT round(veles_distance('[0.1,0.2]', '[0.3,0.5]'), 6);

-- 5.2 over a table
CREATE VIRTUAL TABLE emb USING vectors(dim=2);
INSERT INTO emb(id, vec) VALUES (1, '[0,0]'), (2, '[1,1]'), (3, '[3,4]');
SELECT id, veles_distance(vec, '[0,0]') AS d FROM emb ORDER BY d DESC;
SELECT typeof(veles_version()), veles_kernel() IN ('avx512', 'avx2+fma', 'neon', 'scalar');
