package testenv

import (
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// TestCoreRPC checks the fake bitcoind's answers as an RPC client sees
// them: results by method, Core's "Method not found", and refused auth
// and malformed requests.
func TestCoreRPC(t *testing.T) {
	host := CoreRPC(t, map[string]json.RawMessage{"getblockcount": json.RawMessage(`42`)}, "u", "p")
	for _, tc := range []struct {
		name, user, password, body string
		status                     int
		want                       string
	}{
		{"result", "u", "p", `{"jsonrpc":"1.0","id":7,"method":"getblockcount","params":[]}`, 200,
			`{"result":42,"error":null,"id":7}` + "\n"},
		{"unknown method", "u", "p", `{"id":"x","method":"getfoo"}`, 404,
			`{"result":null,"error":{"code":-32601,"message":"Method not found"},"id":"x"}` + "\n"},
		{"no id", "u", "p", `{"method":"getblockcount"}`, 400, ""},
		{"not json", "u", "p", `getblockcount`, 400, ""},
		{"wrong password", "u", "q", `{"id":1,"method":"getblockcount"}`, 401, ""},
		{"no auth", "", "", `{"id":1,"method":"getblockcount"}`, 401, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest("POST", "http://"+host, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if tc.user != "" {
				req.SetBasicAuth(tc.user, tc.password)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status || string(body) != tc.want {
				t.Errorf("got %d %q, want %d %q", resp.StatusCode, body, tc.status, tc.want)
			}
		})
	}
}

// TestCoreRPCFixtures: the repository's Core fixtures load by method name
// and each is a JSON value CoreRPC can embed.
func TestCoreRPCFixtures(t *testing.T) {
	results := CoreRPCFixtures(t, filepath.Join("..", "..", "fixtures", "core", "rpc"))
	for _, m := range []string{"getnetworkinfo", "getpeerinfo", "getblockchaininfo"} {
		if _, ok := results[m]; !ok {
			t.Errorf("no %s among %d fixtures", m, len(results))
		}
	}
	for m, b := range results {
		if !json.Valid(b) {
			t.Errorf("%s.json is not JSON", m)
		}
	}
}
