package event

import "strings"

// Implementation names NodeInfo uses for the node software peertape knows.
const (
	ImplBitcoinCore  = "Bitcoin Core"
	ImplBitcoinKnots = "Bitcoin Knots"
	ImplBtcd         = "btcd"
)

// ImplementationFromUserAgent names the node software behind a BIP14 user
// agent ("subversion"), as sent in the version message and returned by
// getnetworkinfo:
//
//	/Satoshi:29.0.0/                 -> Bitcoin Core
//	/Satoshi:28.1.0/Knots:20250305/  -> Bitcoin Knots
//	/btcwire:0.5.0/btcd:0.26.2/      -> btcd
//
// Knots keeps Core's "Satoshi" component and appends its own, so it is
// checked first. Any other agent yields the name of its last component
// ("/bcoin:2.2.0/" -> "bcoin"); an empty or unparseable agent yields "".
func ImplementationFromUserAgent(ua string) string {
	comps := userAgentComponents(ua)
	for _, c := range comps {
		if strings.EqualFold(c, "Knots") {
			return ImplBitcoinKnots
		}
	}
	for _, c := range comps {
		switch {
		case c == "Satoshi":
			return ImplBitcoinCore
		case strings.EqualFold(c, "btcd"):
			return ImplBtcd
		}
	}
	if len(comps) == 0 {
		return ""
	}
	return comps[len(comps)-1]
}

// userAgentComponents returns the names of the "/name:version(comments)/"
// components of a user agent.
func userAgentComponents(ua string) []string {
	var out []string
	for _, part := range strings.Split(ua, "/") {
		if i := strings.IndexAny(part, ":("); i >= 0 {
			part = part[:i]
		}
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// NetworkName maps the chain names nodes report (Core's getblockchaininfo
// "main", "test", "testnet4", "signet", "regtest"; btcd's "mainnet",
// "testnet3", "simnet", ...) to the names peertape uses in NodeInfo and
// flags: mainnet, testnet3, testnet4, signet, regtest, simnet. Unknown names
// are returned unchanged.
func NetworkName(chain string) string {
	switch strings.ToLower(chain) {
	case "main", "mainnet", "bitcoin":
		return "mainnet"
	case "test", "testnet", "testnet3":
		return "testnet3"
	case "testnet4":
		return "testnet4"
	case "signet":
		return "signet"
	case "regtest":
		return "regtest"
	case "simnet":
		return "simnet"
	}
	return chain
}
