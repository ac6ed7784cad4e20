package dashboard

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed assets
var assets embed.FS

// CSP allows only this server's own files: no inline script or style, no
// plugins, no base or form targets elsewhere, and no framing.
const CSP = "default-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; object-src 'none'"

// contentTypes is fixed here rather than read from the host's mime.types,
// which differ between machines: with nosniff, a module script served as
// anything but JavaScript does not run.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".svg":  "image/svg+xml",
}

// file is one embedded asset, ready to serve.
type file struct {
	name, contentType, etag string
	body                    []byte
}

// Handler serves the page at / and its files at /assets/NAME. Routes
// decide the methods; it serves GET and HEAD of exactly these paths.
func Handler() http.Handler {
	files, err := load()
	if err != nil {
		panic(err) // the embedded files are part of the binary: a build error
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", CSP)
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		name := strings.TrimPrefix(r.URL.Path, "/assets/")
		if r.URL.Path == "/" {
			name = "index.html"
		}
		f, ok := files[name]
		if !ok {
			http.NotFound(w, r)
			return
		}
		// Revalidate every time: a new binary brings a new page.
		h.Set("Cache-Control", "no-cache")
		h.Set("Content-Type", f.contentType)
		h.Set("ETag", f.etag)
		http.ServeContent(w, r, f.name, time.Time{}, bytes.NewReader(f.body))
	})
}

func load() (map[string]file, error) {
	out := map[string]file{}
	err := fs.WalkDir(assets, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := assets.ReadFile(p)
		if err != nil {
			return err
		}
		name := strings.TrimPrefix(p, "assets/")
		ct := contentTypes[path.Ext(name)]
		if ct == "" {
			return fmt.Errorf("dashboard asset %s: no content type for its extension", name)
		}
		sum := sha256.Sum256(b)
		out[name] = file{name: name, contentType: ct, etag: `"` + hex.EncodeToString(sum[:8]) + `"`, body: b}
		return nil
	})
	return out, err
}
