package devkafka

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"
)

// registryFile is where the registered schemas are kept inside DataDir.
// kfake persists only the broker; without this file a restarted dev stack
// would hand out schema ids that clash with the ids framed into records
// already in the log.
const registryFile = "schema-registry.json"

// registryServer serves an srfake.Registry on a listener we own, because
// srfake.New can only bind a random port through httptest.
type registryServer struct {
	reg  *srfake.Registry
	ln   net.Listener
	srv  *http.Server
	done chan error
	log  *slog.Logger

	path   string     // persistence file; "" = memory only
	saveMu sync.Mutex // serialises snapshots of the registry to path
}

func startRegistry(addr, dataDir string, log *slog.Logger) (*registryServer, error) {
	rs := &registryServer{
		reg:  srfake.NewRegistry(),
		log:  log,
		done: make(chan error, 1),
	}
	if dataDir != "" {
		rs.path = filepath.Join(dataDir, registryFile)
		if err := rs.load(); err != nil {
			return nil, err
		}
	}
	ln, err := net.Listen("tcp4", addr)
	if err != nil {
		return nil, fmt.Errorf("start registry on %s: %w", addr, err)
	}
	rs.ln = ln
	rs.srv = &http.Server{
		Handler:           rs.handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	go func() { rs.done <- rs.srv.Serve(ln) }()
	return rs, nil
}

func (rs *registryServer) url() string { return "http://" + rs.ln.Addr().String() }

// handler wraps the registry so that, with persistence on, every successful
// mutation is written to disk before the client sees the response. A dev
// stack killed without Close then still knows every id it handed out.
func (rs *registryServer) handler() http.Handler {
	inner := rs.reg.Handler()
	if rs.path == "" {
		return inner
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			inner.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		inner.ServeHTTP(rec, r)
		if rec.Code < 300 {
			if err := rs.save(); err != nil {
				rs.log.Error("persist schema registry", "file", rs.path, "err", err)
				http.Error(w, `{"error_code":50001,"message":"persist registry"}`, http.StatusInternalServerError)
				return
			}
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		if _, err := w.Write(rec.Body.Bytes()); err != nil {
			rs.log.Debug("write registry response", "err", err)
		}
	})
}

// close stops serving and persists the registry.
func (rs *registryServer) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := rs.srv.Shutdown(ctx)
	if serveErr := <-rs.done; !errors.Is(serveErr, http.ErrServerClosed) {
		err = errors.Join(err, serveErr)
	}
	if err != nil {
		err = fmt.Errorf("stop registry: %w", err)
	}
	if rs.path != "" {
		if saveErr := rs.save(); saveErr != nil {
			err = errors.Join(err, saveErr)
		}
	}
	return err
}

// snapshot lists every live schema version through the registry's own REST
// handler, the only complete enumeration srfake offers.
func (rs *registryServer) snapshot() ([]sr.SubjectSchema, error) {
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/schemas", nil)
	rs.reg.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		return nil, fmt.Errorf("list schemas: status %d: %s", rec.Code, bytes.TrimSpace(rec.Body.Bytes()))
	}
	var ss []sr.SubjectSchema
	if err := json.Unmarshal(rec.Body.Bytes(), &ss); err != nil {
		return nil, fmt.Errorf("list schemas: %w", err)
	}
	return ss, nil
}

func (rs *registryServer) save() error {
	rs.saveMu.Lock()
	defer rs.saveMu.Unlock()
	ss, err := rs.snapshot()
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(ss, "", "  ")
	if err != nil {
		return fmt.Errorf("encode registry: %w", err)
	}
	// Write then rename so a crash mid-write leaves the previous snapshot.
	tmp := rs.path + ".tmp"
	if err := os.MkdirAll(filepath.Dir(rs.path), 0o755); err != nil {
		return fmt.Errorf("save registry: %w", err)
	}
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("save registry: %w", err)
	}
	if err := os.Rename(tmp, rs.path); err != nil {
		return fmt.Errorf("save registry: %w", err)
	}
	return nil
}

func (rs *registryServer) load() error {
	b, err := os.ReadFile(rs.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("load registry: %w", err)
	}
	var ss []sr.SubjectSchema
	if err := json.Unmarshal(b, &ss); err != nil {
		return fmt.Errorf("load registry %s: %w", rs.path, err)
	}
	// Ids ascend in registration order, so referenced schemas are seeded
	// before the schemas that reference them.
	sort.Slice(ss, func(i, j int) bool {
		if ss[i].ID != ss[j].ID {
			return ss[i].ID < ss[j].ID
		}
		return ss[i].Version < ss[j].Version
	})
	seen := make(map[int]bool, len(ss))
	for _, s := range ss {
		if err := rs.seed(s, seen); err != nil {
			return fmt.Errorf("load registry %s: %w", rs.path, err)
		}
	}
	rs.log.Info("schema registry restored", "file", rs.path, "schemas", len(ss))
	return nil
}

// seed adds one persisted schema version. srfake.SeedSchema panics on bad
// input and allows one subject per id; a hand-edited or corrupt file must
// surface as an error instead, so the panic is converted here. A schema id
// shared by several subjects is registered through the normal path, which
// reuses the id for an identical schema.
func (rs *registryServer) seed(s sr.SubjectSchema, seen map[int]bool) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("seed %s v%d id %d: %v", s.Subject, s.Version, s.ID, r)
		}
	}()
	if seen[s.ID] {
		id, _, err := rs.reg.RegisterSchema(s.Subject, s.Schema)
		if err != nil {
			return fmt.Errorf("seed %s v%d: %w", s.Subject, s.Version, err)
		}
		if id != s.ID {
			return fmt.Errorf("seed %s v%d: got id %d, want %d", s.Subject, s.Version, id, s.ID)
		}
		return nil
	}
	rs.reg.SeedSchema(s.Subject, s.Version, s.ID, s.Schema)
	seen[s.ID] = true
	return nil
}
