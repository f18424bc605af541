package format

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"

	"google.golang.org/protobuf/proto"
)

// zstd magic numbers.
const (
	zstdMagic      = 0xFD2FB528
	skippableMagic = 0x184D2A50 // peertape uses the first of 0x184D2A50..5F
	skippableMask  = 0xFFFFFFF0
)

// Tags opening the content of peertape's skippable frames.
const (
	tagMeta    = "PTMD"
	tagNote    = "PTNT"
	tagIndex   = "PTIX"
	tagTrailer = "PTTR"
)

// trailerSize is the size of the trailer frame: 8-byte skippable header,
// tag, index offset, index length, crc.
const trailerSize = 8 + 4 + 8 + 4 + 4

// maxSkippable bounds the skippable frames peertape reads, so a corrupt
// length cannot make a reader allocate gigabytes.
const maxSkippable = 256 << 20

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// appendSkippable appends a skippable frame holding tag, a crc32c of the
// encoded message and the message.
func appendSkippable(dst []byte, tag string, msg proto.Message) ([]byte, error) {
	body, err := proto.MarshalOptions{Deterministic: true}.Marshal(msg)
	if err != nil {
		return dst, fmt.Errorf("encode %s: %w", tag, err)
	}
	dst = binary.LittleEndian.AppendUint32(dst, skippableMagic)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(4+4+len(body)))
	dst = append(dst, tag...)
	dst = binary.LittleEndian.AppendUint32(dst, crc32.Checksum(body, castagnoli))
	return append(dst, body...), nil
}

// parseSkippableContent checks the tag and crc of a peertape skippable
// frame's content and decodes the message into msg.
func parseSkippableContent(content []byte, tag string, msg proto.Message) error {
	if len(content) < 8 || string(content[:4]) != tag {
		return fmt.Errorf("not a %s frame", tag)
	}
	body := content[8:]
	if want, got := binary.LittleEndian.Uint32(content[4:8]), crc32.Checksum(body, castagnoli); want != got {
		return fmt.Errorf("%s frame checksum mismatch (stored %08x, computed %08x)", tag, want, got)
	}
	if err := proto.Unmarshal(body, msg); err != nil {
		return fmt.Errorf("decode %s frame: %w", tag, err)
	}
	return nil
}

// appendTrailer appends the trailer pointing at the index frame.
func appendTrailer(dst []byte, indexOffset int64, indexLen int) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, skippableMagic)
	dst = binary.LittleEndian.AppendUint32(dst, trailerSize-8)
	start := len(dst)
	dst = append(dst, tagTrailer...)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(indexOffset))
	dst = binary.LittleEndian.AppendUint32(dst, uint32(indexLen))
	return binary.LittleEndian.AppendUint32(dst, crc32.Checksum(dst[start:], castagnoli))
}

// parseTrailer validates a trailer frame and returns the index location.
func parseTrailer(b []byte) (indexOffset int64, indexLen int, err error) {
	if len(b) != trailerSize {
		return 0, 0, fmt.Errorf("trailer: %d bytes, want %d", len(b), trailerSize)
	}
	if binary.LittleEndian.Uint32(b) != skippableMagic || binary.LittleEndian.Uint32(b[4:]) != trailerSize-8 {
		return 0, 0, fmt.Errorf("trailer: no skippable frame header")
	}
	c := b[8:]
	if string(c[:4]) != tagTrailer {
		return 0, 0, fmt.Errorf("trailer: tag %q, want %q", c[:4], tagTrailer)
	}
	if want, got := binary.LittleEndian.Uint32(c[16:]), crc32.Checksum(c[:16], castagnoli); want != got {
		return 0, 0, fmt.Errorf("trailer: checksum mismatch")
	}
	return int64(binary.LittleEndian.Uint64(c[4:])), int(binary.LittleEndian.Uint32(c[12:])), nil
}
