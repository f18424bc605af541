package main

import (
	"strings"
	"testing"
)

// TestHelpHasExamples: the foundation, recorder and replayer commands
// each document an example in --help, and list the flags their issues
// name.
func TestHelpHasExamples(t *testing.T) {
	flags := map[string][]string{
		"info":    {"--json"},
		"cat":     {"--from", "--to", "--kind", "--exclude", "--json"},
		"verify":  {"--json"},
		"recover": {"--json"},
		"import":  {"-o, --output"},
		"compact": {"--level"},
		"synth":   {"-o, --output", "--node", "--duration", "--rate", "--seed", "--anomaly"},
		"nats":    {"--listen", "--max-payload"},
		"record": {"--dir", "--node", "--nats", "--subjects", "--embedded-nats", "--listen", "--only", "--exclude", "--low-data",
			"--max-segment-size", "--max-segment-age", "--retain-size", "--retain-age", "--flush-interval", "--fsync",
			"--compact", "--level", "--metrics-addr"},
		"replay": {"--speed", "--skip-gaps", "--loop", "--from", "--to", "--only", "--exclude", "--node", "--nats",
			"--embedded-nats", "--listen", "--metrics-addr", "--json", "--openmetrics"},
	}
	for name, want := range flags {
		out, stderr, code := peertape(t, name, "--help")
		if code != 0 {
			t.Errorf("%s --help: exit %d: %s", name, code, stderr)
			continue
		}
		ex := strings.Index(out, "Examples:\n")
		if ex < 0 || !strings.Contains(out[ex:], "peertape "+name) {
			t.Errorf("%s --help has no example running it:\n%s", name, out)
		}
		for _, f := range want {
			if !strings.Contains(out, "  "+f+" ") && !strings.Contains(out, "  "+f+"\n") {
				t.Errorf("%s --help lacks %s", name, f)
			}
		}
	}
}
