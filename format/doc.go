// Package format reads and writes peertape segment files, and reads
// peer-observer's own archives.
//
// # Segment layout (format version 1)
//
// A segment is a valid multi-frame zstd file: `zstd -dc SEGMENT` prints
// a peer-observer archive (a length-delimited header.ArchiveHeader followed
// by length-delimited event.Event records). peertape's own data lives in
// zstd skippable frames, which every standard decoder ignores:
//
//	segment = meta data-frame* note* ... index trailer
//	meta    = skippable frame: "PTMD" crc32c(pb) SegmentMeta
//	data    = zstd frame with content checksum; content = records; the first
//	          data frame starts with the length-delimited ArchiveHeader
//	record  = uvarint(len) event.Event bytes
//	note    = skippable frame between data frames: "PTNT" crc32c(pb) Note
//	index   = skippable frame: "PTIX" crc32c(pb) SegmentIndex
//	trailer = skippable frame of fixed size (28 bytes):
//	          "PTTR" u64 index-offset u32 index-length u32 crc32c(previous 16 bytes)
//
// All skippable frames use magic 0x184D2A50. Integers are little-endian.
//
// # What a crash can and cannot do
//
// Records never span data frames, so every frame decodes on its own and a
// reader can seek to any frame listed in the index. The writer flushes the
// open frame at every flush interval: complete zstd blocks reach the file,
// and a reader decodes them from an unfinished frame. A crash (kill -9,
// power loss after the last fsync) therefore loses at most the records
// written since the last flush (or fsync); everything before stays
// readable. The file being written is NAME.partial; Close appends the
// index and trailer, fsyncs, renames it to NAME and fsyncs the directory,
// so a file without the .partial suffix is always complete.
//
// A torn tail (a half-written block or record) is dropped and its size
// reported. A damaged frame in the middle is reported as a *CorruptError
// naming the file, frame and byte offset; frames after it stay readable.
// Recover turns a .partial or damaged file into a complete segment.
package format
