package format

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/peertape/peertape/proto/pb"
)

// Field numbers of pb.SegmentIndex and pb.FrameInfo that the lite parse
// handles itself.
const (
	indexFieldFrames = 1

	frameFieldOffset        = 1
	frameFieldCompressedLen = 2
	frameFieldRawLen        = 3
	frameFieldFirstTime     = 4
	frameFieldLastTime      = 5
	frameFieldMinTime       = 6
	frameFieldMaxTime       = 7
	frameFieldEvents        = 8
	frameFieldKinds         = 9
	frameFieldFirstEvent    = 10
	frameFieldCommands      = 11
)

var errIndexWire = errors.New("malformed index")

// parseIndexLite decodes an index frame's content without the per-frame
// kind and command maps: everything a reader needs to plan frames by time.
// Decoding those maps through protobuf reflection was most of the cost
// of opening a segment (a map per frame, ~2.5 ms a file on a 1 h synth
// segment), and `cat --from` opens every file twice (StartTime, then
// reading). Reader.Index decodes the full index on demand. The checksum
// is checked as for every skippable frame.
func parseIndexLite(content []byte) (*pb.SegmentIndex, error) {
	if len(content) < 8 || string(content[:4]) != tagIndex {
		return nil, fmt.Errorf("not a %s frame", tagIndex)
	}
	body := content[8:]
	if want, got := binary.LittleEndian.Uint32(content[4:8]), crc32.Checksum(body, castagnoli); want != got {
		return nil, fmt.Errorf("%s frame checksum mismatch (stored %08x, computed %08x)", tagIndex, want, got)
	}
	idx := &pb.SegmentIndex{}
	var rest []byte // every top-level field but frames, for proto.Unmarshal
	for b := body; len(b) > 0; {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, errIndexWire
		}
		m := protowire.ConsumeFieldValue(num, typ, b[n:])
		if m < 0 {
			return nil, errIndexWire
		}
		field := b[:n+m]
		b = b[n+m:]
		if num != indexFieldFrames || typ != protowire.BytesType {
			rest = append(rest, field...)
			continue
		}
		v, _ := protowire.ConsumeBytes(field[n:])
		fi, err := parseFrameInfoLite(v)
		if err != nil {
			return nil, err
		}
		idx.Frames = append(idx.Frames, fi)
	}
	if len(rest) > 0 {
		frames := idx.Frames
		if err := proto.Unmarshal(rest, idx); err != nil {
			return nil, fmt.Errorf("decode %s frame: %w", tagIndex, err)
		}
		idx.Frames = frames
	}
	return idx, nil
}

// parseFrameInfoLite decodes a FrameInfo without its Kinds and Commands.
// Like proto.Unmarshal, the last value of a scalar wins and a field of an
// unexpected wire type is ignored.
func parseFrameInfoLite(b []byte) (*pb.FrameInfo, error) {
	fi := &pb.FrameInfo{}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, errIndexWire
		}
		b = b[n:]
		if typ == protowire.VarintType {
			v, m := protowire.ConsumeVarint(b)
			if m < 0 {
				return nil, errIndexWire
			}
			b = b[m:]
			switch num {
			case frameFieldOffset:
				fi.Offset = v
			case frameFieldCompressedLen:
				fi.CompressedLen = v
			case frameFieldRawLen:
				fi.RawLen = v
			case frameFieldFirstTime:
				fi.FirstTimeMs = int64(v)
			case frameFieldLastTime:
				fi.LastTimeMs = int64(v)
			case frameFieldMinTime:
				fi.MinTimeMs = int64(v)
			case frameFieldMaxTime:
				fi.MaxTimeMs = int64(v)
			case frameFieldEvents:
				fi.Events = v
			case frameFieldFirstEvent:
				fi.FirstEvent = v
			}
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return nil, errIndexWire
		}
		b = b[m:]
	}
	return fi, nil
}
