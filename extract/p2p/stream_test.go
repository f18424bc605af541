package p2p

import (
	"bytes"
	"net"
	"testing"

	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/wire/v2"
)

func validStream(t testing.TB) []byte {
	var b bytes.Buffer
	zero := wire.NewNetAddressIPPort(net.IPv4zero, 0, 0)
	v := wire.NewMsgVersion(zero, zero, 42, 7)
	v.UserAgent = "/Satoshi:29.0.0/"
	for _, m := range []wire.Message{v, wire.NewMsgWTxIdRelay(), wire.NewMsgSendAddrV2(), wire.NewMsgVerAck(), wire.NewMsgPing(9)} {
		e, _ := encodeMessage(m, wire.TestNet)
		b.Write(e)
	}
	inv := wire.NewMsgInv()
	inv.AddInvVect(wire.NewInvVect(wire.InvTypeBlock, &chainhash.Hash{1}))
	e, _ := encodeMessage(inv, wire.TestNet)
	b.Write(e)
	b.Write(frame(t, wire.TestNet, "addrv2", addrV2Payload(t)))
	e, _ = encodeMessage(wire.NewMsgFeeFilter(1000), wire.TestNet)
	b.Write(e)
	return b.Bytes()
}
