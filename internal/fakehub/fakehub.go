// Package fakehub is a Hugging Face hub on a loopback test server, for tests of the downloads. It
// answers the two requests weights/registry makes, as the hub documents them: the repo description
// GET /api/models/<org>/<name>/revision/<rev>?blobs=true (commit "sha" and "siblings" with
// "rfilename", "size", "blobId" and, for LFS files, "lfs": {"sha256", "size"}) and the file transfer
// GET /<org>/<name>/resolve/<rev>/<file> (headers X-Repo-Commit, ETag, and X-Linked-Etag for LFS). An
// unknown repo gets 401 with X-Error-Code RepoNotFound, as on the hub; an unknown file 404.
package fakehub

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// File is one file of a repo.
type File struct {
	Name string
	Data []byte
	LFS  bool // listed with its SHA-256 (large files); else with its git blob id
	// Corrupt advertises the digest of other bytes, as if the transfer had been damaged.
	Corrupt bool
	// Stall sends the first half of Data, closes Stall, then waits for the client to hang up.
	Stall chan struct{}
}

// Hub is the fake hub; its URL is the endpoint to give the registry (Options.HFEndpoint, $HF_ENDPOINT).
type Hub struct {
	*httptest.Server
	mu        sync.Mutex
	repos     map[string]*repo
	requests  int
	downloads map[string]int // "<repo>/<file>" → completed transfers
}

type repo struct {
	commit string
	files  []File
}

// New starts an empty hub, closed when the test ends.
func New(t testing.TB) *Hub {
	h := &Hub{repos: map[string]*repo{}, downloads: map[string]int{}}
	h.Server = httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(h.Close)
	return h
}

// Add publishes a repo (replacing an earlier one of that id) and returns its commit, derived from
// the content.
func (h *Hub) Add(id string, files ...File) string {
	s := sha1.New()
	s.Write([]byte(id))
	for _, f := range files {
		s.Write([]byte(f.Name))
		s.Write(f.Data)
	}
	commit := hex.EncodeToString(s.Sum(nil))
	h.mu.Lock()
	h.repos[id] = &repo{commit: commit, files: files}
	h.mu.Unlock()
	return commit
}

// Requests is the number of requests served so far.
func (h *Hub) Requests() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.requests
}

// Downloads is the number of complete transfers of file from repo id.
func (h *Hub) Downloads(id, file string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.downloads[id+"/"+file]
}

// SHA256 is the hex SHA-256 of b; GitBlobID the git object id of b.
func SHA256(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func GitBlobID(b []byte) string {
	s := sha1.New()
	s.Write([]byte("blob " + strconv.Itoa(len(b)) + "\x00"))
	s.Write(b)
	return hex.EncodeToString(s.Sum(nil))
}

// digest is what the hub lists for f: its SHA-256 (LFS) or git blob id.
func digest(f File) string {
	b := f.Data
	if f.Corrupt {
		b = append(append([]byte(nil), b...), "other bytes"...)
	}
	if f.LFS {
		return SHA256(b)
	}
	return GitBlobID(b)
}

func (h *Hub) lookup(id, rev string) (*repo, int, string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.repos[id]
	switch {
	case r == nil:
		return nil, http.StatusUnauthorized, "RepoNotFound"
	case rev != "main" && rev != r.commit:
		return nil, http.StatusNotFound, "RevisionNotFound"
	}
	return r, http.StatusOK, ""
}

func fail(w http.ResponseWriter, status int, code string) {
	w.Header().Set("X-Error-Code", code)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": code})
}

func (h *Hub) serve(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	h.requests++
	h.mu.Unlock()
	if rest, ok := strings.CutPrefix(r.URL.EscapedPath(), "/api/models/"); ok {
		h.serveInfo(w, rest)
		return
	}
	parts := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/"), "/", 5)
	if len(parts) != 5 || parts[2] != "resolve" {
		fail(w, http.StatusNotFound, "EntryNotFound")
		return
	}
	id := parts[0] + "/" + parts[1]
	rp, status, code := h.lookup(id, parts[3])
	if rp == nil {
		fail(w, status, code)
		return
	}
	for _, f := range rp.files {
		if f.Name == parts[4] {
			h.serveFile(w, r, id, rp.commit, f)
			return
		}
	}
	fail(w, http.StatusNotFound, "EntryNotFound")
}

func (h *Hub) serveInfo(w http.ResponseWriter, rest string) {
	id, rev, ok := strings.Cut(rest, "/revision/")
	rev, err := url.PathUnescape(rev)
	if !ok || err != nil {
		fail(w, http.StatusNotFound, "EntryNotFound")
		return
	}
	rp, status, code := h.lookup(id, rev)
	if rp == nil {
		fail(w, status, code)
		return
	}
	siblings := []map[string]any{}
	for _, f := range rp.files {
		s := map[string]any{"rfilename": f.Name, "size": len(f.Data)}
		if f.LFS {
			s["blobId"] = GitBlobID([]byte("lfs pointer " + f.Name))
			s["lfs"] = map[string]any{"sha256": digest(f), "size": len(f.Data), "pointerSize": 134}
		} else {
			s["blobId"] = digest(f)
		}
		siblings = append(siblings, s)
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"id": id, "modelId": id, "sha": rp.commit, "siblings": siblings})
}

func (h *Hub) serveFile(w http.ResponseWriter, r *http.Request, id, commit string, f File) {
	w.Header().Set("X-Repo-Commit", commit)
	w.Header().Set("ETag", `"`+digest(f)+`"`)
	if f.LFS {
		w.Header().Set("X-Linked-Etag", `"`+digest(f)+`"`)
		w.Header().Set("X-Linked-Size", strconv.Itoa(len(f.Data)))
	}
	if f.Stall != nil && r.Method == http.MethodGet {
		w.Header().Set("Content-Length", strconv.Itoa(len(f.Data)))
		w.Write(f.Data[:len(f.Data)/2])
		w.(http.Flusher).Flush()
		close(f.Stall)
		<-r.Context().Done()
		return
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.Data))
	if r.Method == http.MethodGet {
		h.mu.Lock()
		h.downloads[id+"/"+f.Name]++
		h.mu.Unlock()
	}
}
