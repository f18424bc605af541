package event

import "testing"

func TestImplementationFromUserAgent(t *testing.T) {
	for _, tc := range []struct{ ua, want string }{
		{"/Satoshi:29.0.0/", ImplBitcoinCore},
		{"/Satoshi:27.1.0(comment; more)/", ImplBitcoinCore},
		{"/Satoshi:28.1.0/Knots:20250305/", ImplBitcoinKnots},
		{"/Satoshi:29.1.0/Knots:20250903(bip110)/", ImplBitcoinKnots},
		{"/btcwire:0.5.0/btcd:0.26.2/", ImplBtcd},
		{"/btcwire:0.5.0/btcd:0.24.0(peertape)/", ImplBtcd},
		{"/bcoin:2.2.0/", "bcoin"},
		{"/p2p-extractor:0.1/", "p2p-extractor"},
		{"", ""},
		{"///", ""},
	} {
		if got := ImplementationFromUserAgent(tc.ua); got != tc.want {
			t.Errorf("ImplementationFromUserAgent(%q) = %q, want %q", tc.ua, got, tc.want)
		}
	}
}

func TestNetworkName(t *testing.T) {
	for in, want := range map[string]string{
		"main": "mainnet", "test": "testnet3", "testnet4": "testnet4", "signet": "signet",
		"regtest": "regtest", "mainnet": "mainnet", "testnet3": "testnet3", "simnet": "simnet",
		"Regtest": "regtest", "liquidv1": "liquidv1",
	} {
		if got := NetworkName(in); got != want {
			t.Errorf("NetworkName(%q) = %q, want %q", in, got, want)
		}
	}
}
