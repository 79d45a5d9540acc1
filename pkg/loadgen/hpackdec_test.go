package loadgen

import (
	"bytes"
	"encoding/hex"
	"slices"
	"testing"

	"golang.org/x/net/http2/hpack"
)

// nginxBlock is nginx 1.22's header block for a 200 with a 30-byte
// text/plain body: :status indexed, then server, date, content-type and
// content-length as literals with incremental indexing, all but the last
// Huffman-coded. nginx sends it so on every response.
const nginxBlock = "887684aa6355e76196df3dbf4a01952f948a080271403f7021b800a98b46ff5f87497ca58ae819aa5c023330"

// decodeRun feeds blocks, each cut into fragments at cuts, to a decoder
// (ours or x/net's) and returns what it emitted and, per block, whether
// it failed; decoding stops at the first failure, as a connection does.
type hpackWriter interface {
	Write([]byte) (int, error)
	Close() error
}

func decodeRun(d hpackWriter, got *[]hpack.HeaderField, blocks [][]byte, cut int) []bool {
	var failed []bool
	for _, b := range blocks {
		var err error
		if cut > 0 && cut < len(b) {
			_, err = d.Write(b[:cut])
			if err == nil {
				_, err = d.Write(b[cut:])
			}
		} else {
			_, err = d.Write(b)
		}
		if err == nil {
			err = d.Close()
		}
		failed = append(failed, err != nil)
		if err != nil {
			break
		}
		*got = append(*got, hpack.HeaderField{Name: "--end of block--"})
	}
	return failed
}

// checkSameAsXNet decodes blocks with both decoders and fails on any
// difference in fields emitted or in failing.
func checkSameAsXNet(t *testing.T, blocks [][]byte, cut, maxStr int) {
	t.Helper()
	var want, got []hpack.HeaderField
	ref := hpack.NewDecoder(4096, func(f hpack.HeaderField) { want = append(want, f) })
	ours := newHPACKDecoder(4096, func(f hpack.HeaderField) { got = append(got, f) })
	if maxStr > 0 {
		ref.SetMaxStringLength(maxStr)
		ours.SetMaxStringLength(maxStr)
	}
	wantFailed := decodeRun(ref, &want, blocks, cut)
	gotFailed := decodeRun(ours, &got, blocks, cut)
	if !slices.Equal(gotFailed, wantFailed) || !slices.Equal(got, want) {
		t.Fatalf("blocks %x cut at %d (max string %d):\n x/net: failed %v, fields %q\n ours:  failed %v, fields %q",
			blocks, cut, maxStr, wantFailed, want, gotFailed, got)
	}
}

// encoded is header sets as x/net's encoder writes them one after the
// other: dynamic table references, size updates, Huffman and raw strings.
func encoded(tableSize uint32, sets ...[]hpack.HeaderField) [][]byte {
	var buf bytes.Buffer
	enc := hpack.NewEncoder(&buf)
	enc.SetMaxDynamicTableSizeLimit(4096)
	enc.SetMaxDynamicTableSize(tableSize)
	var blocks [][]byte
	for _, set := range sets {
		buf.Reset()
		for _, f := range set {
			_ = enc.WriteField(f)
		}
		blocks = append(blocks, bytes.Clone(buf.Bytes()))
	}
	return blocks
}

func hpackSeeds() [][][]byte {
	nginx, _ := hex.DecodeString(nginxBlock)
	resp := []hpack.HeaderField{
		{Name: ":status", Value: "200"}, {Name: "x-pod-id", Value: "web-7d4b9c-x2x"},
		{Name: "x-app-version", Value: "v2"}, {Name: "content-type", Value: "application/grpc"},
		{Name: "grpc-status", Value: "0"}, {Name: "x-secret", Value: "s3cr3t", Sensitive: true},
	}
	big := []hpack.HeaderField{{Name: ":status", Value: "503"}, {Name: "x-big", Value: string(bytes.Repeat([]byte("z"), 3000))}}
	return [][][]byte{
		{nginx, nginx, nginx},
		encoded(4096, resp, resp, big, resp, big, resp),
		encoded(256, resp, big, resp),
		encoded(0, resp, resp),
		{{0x3f, 0xe1, 0x1f, 0x88}}, // a size update to 4096, then :status 200
		{{0x20, 0x88}, {0x88, 0x20}},
		{{0xbe}},                   // index 62: an empty dynamic table
		{{0x40, 0x01, 'a', 0x81}},  // a value cut short
		{{0x00, 0x81, 0xff, 0x00}}, // an invalid Huffman string
		{{0xff, 0xff, 0xff, 0xff}}, // an index past the tables
		{{0x7f, 0x80, 0x80, 0x80}}, // an unfinished varint
	}
}

func TestHPACKDecoderMatchesXNet(t *testing.T) {
	for i, blocks := range hpackSeeds() {
		for _, cut := range []int{0, 1, 2, 5, 17} {
			for _, maxStr := range []int{0, 16, readBufferSize} {
				t.Run("", func(t *testing.T) {
					_ = i
					checkSameAsXNet(t, blocks, cut, maxStr)
				})
			}
		}
	}
}

// The decoder is the client's only reader of header blocks: whatever a
// server sends, it must say what x/net's says, and never panic.
func FuzzHPACKDecoder(f *testing.F) {
	for _, blocks := range hpackSeeds() {
		f.Add(bytes.Join(blocks, []byte{0xfe, 0xfe}), uint8(0), uint8(0))
		f.Add(bytes.Join(blocks, []byte{0xfe, 0xfe}), uint8(3), uint8(20))
	}
	f.Fuzz(func(t *testing.T, data []byte, cut, maxStr uint8) {
		// Blocks are split at 0xfe 0xfe, so one input is several blocks
		// sharing the dynamic table.
		checkSameAsXNet(t, bytes.Split(data, []byte{0xfe, 0xfe}), int(cut), int(maxStr))
	})
}

// A repeated response decodes with no allocation: the literals nginx
// sends on every response are remembered.
func TestHPACKDecoderRepeatAllocs(t *testing.T) {
	block, _ := hex.DecodeString(nginxBlock)
	n := 0
	d := newHPACKDecoder(4096, func(f hpack.HeaderField) { n += len(f.Value) })
	d.SetMaxStringLength(readBufferSize)
	run := func() {
		if _, err := d.Write(block); err != nil {
			t.Fatal(err)
		}
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
	}
	run()
	if a := testing.AllocsPerRun(100, run); a != 0 {
		t.Errorf("%v allocations per repeated block, want 0", a)
	}
}

// BenchmarkHPACKDecodeNginx compares decoding nginx's response block with
// x/net's decoder (which the client used before) and ours.
func BenchmarkHPACKDecodeNginx(b *testing.B) {
	block, _ := hex.DecodeString(nginxBlock)
	n := 0
	emit := func(f hpack.HeaderField) { n += len(f.Value) }
	for _, c := range []struct {
		name string
		d    hpackWriter
	}{
		{"xnet", hpack.NewDecoder(4096, emit)},
		{"rolltest", newHPACKDecoder(4096, emit)},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _ = c.d.Write(block)
				_ = c.d.Close()
			}
		})
	}
}
