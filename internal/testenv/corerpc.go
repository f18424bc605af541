package testenv

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// CoreRPC starts an HTTP server that answers JSON-RPC 1.0 requests the way
// Bitcoin Core's bitcoind does, from canned results, and returns its
// host:port (what the RPC extractor's Host option takes). The server is
// closed at cleanup.
//
// A request for a method in results gets {"result": results[method],
// "error": null, "id": id}; any other method gets HTTP 404 with Core's
// "Method not found" error (code -32601), as bitcoind answers it. A body
// that is not a JSON-RPC request with an id gets 400. If user is not
// empty, a request without HTTP basic auth user:password gets 401, as
// bitcoind refuses a wrong rpcauth. results must not change while the
// server runs.
//
// For servers that must misbehave (hang, drop connections, answer slowly)
// write a test-local one; this one is for serving fixtures.
func CoreRPC(t testing.TB, results map[string]json.RawMessage, user, password string) (hostport string) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if user != "" {
			if u, pw, ok := r.BasicAuth(); !ok || u != user || pw != password {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
		}
		body, _ := io.ReadAll(r.Body)
		var req struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
		}
		if err := json.Unmarshal(body, &req); err != nil || len(req.ID) == 0 {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		res, ok := results[req.Method]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"result":null,"error":{"code":-32601,"message":"Method not found"},"id":`+string(req.ID)+"}\n")
			return
		}
		io.WriteString(w, `{"result":`+string(res)+`,"error":null,"id":`+string(req.ID)+"}\n")
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// CoreRPCFixtures reads the RPC results in dir (one METHOD.json file per
// method, as in fixtures/core/rpc) into method -> result for CoreRPC. The
// results are not validated as JSON. It fails the test when dir holds no
// .json file: a fixture directory that went missing must not turn a test
// into one that checks nothing.
func CoreRPCFixtures(t testing.TB, dir string) map[string]json.RawMessage {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no RPC fixtures (*.json) in %s: %v", dir, err)
	}
	results := make(map[string]json.RawMessage, len(files))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatalf("read RPC fixture: %v", err)
		}
		results[strings.TrimSuffix(filepath.Base(f), ".json")] = b
	}
	return results
}
