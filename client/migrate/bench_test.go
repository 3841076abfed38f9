package migrate

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/orch-project/orch/internal/safefs"
)

// BenchmarkMigrateArchive streams an allocation's data (256 files of
// 256 KiB, 64 MiB) through WriteArchive and Extract, as a migration
// between two nodes does minus the network: the cost on the two agents.
//
//	go test -run '^$' -bench MigrateArchive -benchtime 10x ./client/migrate/
func BenchmarkMigrateArchive(b *testing.B) {
	src := b.TempDir()
	chunk := bytes.Repeat([]byte("0123456789abcdef"), 256<<10/16)
	var total int64
	for i := 0; i < 256; i++ {
		p := filepath.Join(src, "alloc/data", fmt.Sprintf("d%02d", i%16), fmt.Sprintf("f%03d", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, chunk, 0o644); err != nil {
			b.Fatal(err)
		}
		total += int64(len(chunk))
	}
	root, err := safefs.OpenRoot(src)
	if err != nil {
		b.Fatal(err)
	}
	defer root.Close()
	b.SetBytes(total)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dst := b.TempDir()
		d, err := safefs.OpenRoot(dst)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		pr, pw := io.Pipe()
		go func() {
			_, err := WriteArchive(pw, root, nil)
			pw.CloseWithError(err)
		}()
		if err := Extract(pr, d, Limits{Bytes: total + 1, Files: 1000}); err != nil {
			b.Fatal(err)
		}
		d.Close()
	}
}
