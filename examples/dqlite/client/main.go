// A small dqlite client for scripts: it runs SQL transactions against the
// leader of a dqlite cluster through go-dqlite's database/sql driver, the
// way a Go application does, and speaks JSON lines on stdin and stdout.
//
//	dqlite-client ADDR[,ADDR...] DATABASE
//
// Each line of input is one request; each gets one line of output:
//
//	{"tx": [{"sql": "...", "args": [...], "query": false}, ...]}
//	   -> {"ok": true, "rows": [[...], ...], "seconds": 0.0012}
//	   -> {"ok": false, "error": "..."}
//
//	{"transfer": "ADDR"}  -> {"ok": true}
//
// The statements of a request run in one transaction (BEGIN ... COMMIT),
// so "ok" means the cluster acknowledged the commit; "rows" are the rows
// of the last statement with "query": true. Arguments and values are JSON
// numbers (an integral number binds as an INTEGER), strings, null, or
// {"hex": "..."} for a BLOB. A failed request is rolled back and the
// client goes on; the driver finds a new leader when the old one is gone.
// "transfer" hands the leadership to the node at ADDR (a node answers SQL
// only while it leads).
package main

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strings"
	"time"

	"github.com/canonical/go-dqlite/client"
	"github.com/canonical/go-dqlite/driver"
)

type statement struct {
	SQL   string        `json:"sql"`
	Args  []interface{} `json:"args"`
	Query bool          `json:"query"`
}

type request struct {
	Tx       []statement `json:"tx"`
	Transfer string      `json:"transfer"`
}

type response struct {
	Ok      bool            `json:"ok"`
	Error   string          `json:"error,omitempty"`
	Rows    [][]interface{} `json:"rows,omitempty"`
	Seconds float64         `json:"seconds"`
}

// The Go value a JSON argument binds as.
func bindValue(v interface{}) (interface{}, error) {
	switch x := v.(type) {
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return int64(x), nil
		}
		return x, nil
	case map[string]interface{}:
		s, ok := x["hex"].(string)
		if !ok {
			return nil, fmt.Errorf("an object argument must be {\"hex\": \"...\"}, got %v", x)
		}
		return hex.DecodeString(s)
	default:
		return v, nil
	}
}

// The JSON form of a column value.
func jsonValue(v interface{}) interface{} {
	if b, ok := v.([]byte); ok {
		return map[string]string{"hex": hex.EncodeToString(b)}
	}
	return v
}

func run(ctx context.Context, db *sql.DB, req request) (rows [][]interface{}, err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	for _, st := range req.Tx {
		args := make([]interface{}, len(st.Args))
		for i, a := range st.Args {
			if args[i], err = bindValue(a); err != nil {
				return nil, err
			}
		}
		if !st.Query {
			if _, err = tx.ExecContext(ctx, st.SQL, args...); err != nil {
				return nil, err
			}
			continue
		}
		if rows, err = queryRows(ctx, tx, st.SQL, args); err != nil {
			return nil, err
		}
	}
	return rows, tx.Commit()
}

// Hands the leadership to the node at address.
func transfer(ctx context.Context, store client.NodeStore, address string) error {
	cli, err := client.FindLeader(ctx, store)
	if err != nil {
		return err
	}
	defer cli.Close()
	nodes, err := cli.Cluster(ctx)
	if err != nil {
		return err
	}
	for _, n := range nodes {
		if n.Address == address {
			return cli.Transfer(ctx, n.ID)
		}
	}
	return fmt.Errorf("no node at %s in the cluster", address)
}

func queryRows(ctx context.Context, tx *sql.Tx, query string, args []interface{}) ([][]interface{}, error) {
	r, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	cols, err := r.Columns()
	if err != nil {
		return nil, err
	}
	out := [][]interface{}{}
	for r.Next() {
		vals := make([]interface{}, len(cols))
		ptrs := make([]interface{}, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := r.Scan(ptrs...); err != nil {
			return nil, err
		}
		for i := range vals {
			vals[i] = jsonValue(vals[i])
		}
		out = append(out, vals)
	}
	return out, r.Err()
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: dqlite-client ADDR[,ADDR...] DATABASE")
		os.Exit(2)
	}
	store := client.NewInmemNodeStore()
	var nodes []client.NodeInfo
	for _, address := range strings.Split(os.Args[1], ",") {
		nodes = append(nodes, client.NodeInfo{Address: address})
	}
	if err := store.Set(context.Background(), nodes); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// a failover takes seconds: keep looking for a leader for up to 30 s
	drv, err := driver.New(store, driver.WithConnectionTimeout(5*time.Second),
		driver.WithContextTimeout(30*time.Second))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	sql.Register("dqlite", drv)
	db, err := sql.Open("dqlite", os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer db.Close()
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<30)
	out := json.NewEncoder(os.Stdout)
	for in.Scan() {
		var req request
		var resp response
		start := time.Now()
		if err := json.Unmarshal(in.Bytes(), &req); err != nil {
			resp.Error = "bad request: " + err.Error()
		} else {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			if req.Transfer != "" {
				err = transfer(ctx, store, req.Transfer)
			} else {
				resp.Rows, err = run(ctx, db, req)
			}
			cancel()
			if err != nil {
				resp.Error = err.Error()
			} else {
				resp.Ok = true
			}
		}
		resp.Seconds = time.Since(start).Seconds()
		if err := out.Encode(resp); err != nil {
			os.Exit(1)
		}
	}
}
