package serve

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/snowlease/idgen"
	"github.com/snowlease/idgen/snowflake"
)

// Routes, as the metrics label them.
const (
	routeIDs     = "/v1/ids"
	routeDecode  = "/v1/decode"
	routeLivez   = "/livez"
	routeReadyz  = "/readyz"
	routeMetrics = "/metrics"
	routeOther   = "other"
)

// get wraps an HTTP route: GET and HEAD only (405 with Allow otherwise),
// and the route's metrics.
func (s *Server) get(route string, h http.HandlerFunc) http.Handler {
	rm := s.m.route(route)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := statusWriter{ResponseWriter: w, code: http.StatusOK}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			sw.Header().Set("Allow", "GET, HEAD")
			s.writeError(&sw, http.StatusMethodNotAllowed, fmt.Sprintf("method %s is not allowed on %s: use GET", r.Method, r.URL.Path))
		} else {
			h(&sw, r)
		}
		rm.observe(sw.code, time.Since(start))
	})
}

// statusWriter remembers the status code for the metrics.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// An encoding writes one ID as text.
type encoding struct {
	name   string
	append func([]byte, snowflake.ID) []byte
	parse  func(string) (snowflake.ID, error)
}

func appender(f func(snowflake.ID) string) func([]byte, snowflake.ID) []byte {
	return func(b []byte, id snowflake.ID) []byte { return append(b, f(id)...) }
}

// Encodings are the names accepted by the encoding parameter.
var encodings = []encoding{
	{"decimal", func(b []byte, id snowflake.ID) []byte { return strconv.AppendInt(b, id.Int64(), 10) }, snowflake.ParseString},
	{"base2", appender(snowflake.ID.Base2), snowflake.ParseBase2},
	{"base32", appender(snowflake.ID.Base32), snowflake.ParseBase32},
	{"base36", appender(snowflake.ID.Base36), snowflake.ParseBase36},
	{"base58", appender(snowflake.ID.Base58), snowflake.ParseBase58},
	{"base64", appender(snowflake.ID.Base64), snowflake.ParseBase64},
}

// EncodingNames lists the encodings IDs can be written in, for flags and
// messages.
func EncodingNames() []string {
	names := make([]string, len(encodings))
	for i, e := range encodings {
		names[i] = e.name
	}
	return names
}

// ParseID reads an ID written in the named encoding ("decimal", "base58",
// ... as EncodingNames lists; case does not matter).
func ParseID(s, encodingName string) (snowflake.ID, error) {
	e, ok := lookupEncoding(encodingName)
	if !ok {
		return 0, fmt.Errorf("unknown encoding %q: use one of %s", encodingName, strings.Join(EncodingNames(), ", "))
	}
	return e.parse(s)
}

// KnownEncoding reports whether ParseID knows the encoding name.
func KnownEncoding(name string) bool {
	_, ok := lookupEncoding(name)
	return ok
}

func lookupEncoding(name string) (encoding, bool) {
	if name == "" {
		return encodings[0], true
	}
	for _, e := range encodings {
		if strings.EqualFold(e.name, name) {
			return e, true
		}
	}
	return encoding{}, false
}

// query parses the request's query string strictly: a malformed one, an
// unknown parameter or one given twice is an error that says so.
func query(r *http.Request, route string, known ...string) (url.Values, error) {
	vals, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, fmt.Errorf("malformed query string: %v", err)
	}
	for k, v := range vals {
		if !slices.Contains(known, k) {
			return nil, fmt.Errorf("unknown parameter %q: %s takes %s", k, route, strings.Join(known, ", "))
		}
		if len(v) > 1 {
			return nil, fmt.Errorf("parameter %q is given %d times", k, len(v))
		}
	}
	return vals, nil
}

// idsQuery is a parsed /v1/ids request.
type idsQuery struct {
	count int
	text  bool
	enc   encoding
}

func (s *Server) parseIDsQuery(r *http.Request) (idsQuery, error) {
	q := idsQuery{count: 1, enc: encodings[0]}
	vals, err := query(r, "/v1/ids", "count", "format", "encoding")
	if err != nil {
		return q, err
	}
	if c := vals.Get("count"); c != "" {
		n, err := strconv.Atoi(c)
		if err != nil || n < 1 || n > s.opts.MaxCount {
			return q, fmt.Errorf("count is %q, allowed 1 to %d", c, s.opts.MaxCount)
		}
		q.count = n
	}
	switch f := vals.Get("format"); strings.ToLower(f) {
	case "", "json":
	case "text":
		q.text = true
	default:
		// format=base58 is short for format=json&encoding=base58.
		e, ok := lookupEncoding(f)
		if !ok || vals.Has("encoding") {
			return q, fmt.Errorf("format is %q, allowed json, text (or an encoding: %s)", f, strings.Join(EncodingNames(), ", "))
		}
		q.enc = e
	}
	if name := vals.Get("encoding"); name != "" {
		e, ok := lookupEncoding(name)
		if !ok {
			return q, fmt.Errorf("encoding is %q, allowed %s", name, strings.Join(EncodingNames(), ", "))
		}
		q.enc = e
	}
	return q, nil
}

func (s *Server) serveIDs(w http.ResponseWriter, r *http.Request) {
	q, err := s.parseIDsQuery(r)
	if err != nil {
		s.writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	b := s.getBuffers(q.count)
	defer s.putBuffers(b)
	if err := s.issue(b.ids); err != nil {
		s.unavailable(w, err)
		return
	}
	out := b.out
	if q.text {
		for _, id := range b.ids {
			out = q.enc.append(out, id)
			out = append(out, '\n')
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	} else {
		out = append(out, `{"ids":[`...)
		for i, id := range b.ids {
			if i > 0 {
				out = append(out, ',')
			}
			out = append(out, '"')
			out = q.enc.append(out, id)
			out = append(out, '"')
		}
		out = append(out, "]}\n"...)
		w.Header().Set("Content-Type", "application/json")
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Length", strconv.Itoa(len(out)))
	b.out = out
	if r.Method != http.MethodHead {
		_, _ = w.Write(out)
	}
}

// Decoded is an ID split into its parts: the JSON of /v1/decode/{id} and of
// `idgen decode`.
type Decoded struct {
	ID       string `json:"id"`
	Time     string `json:"time"`
	Tick     int64  `json:"tick"`
	Worker   int64  `json:"worker"`
	Sequence int64  `json:"sequence"`
}

// TimeFormat is how Decoded writes the time: RFC 3339 with exactly three
// fractional digits, in UTC.
const TimeFormat = "2006-01-02T15:04:05.000Z07:00"

// Decode splits id under layout, or says why id cannot be one of its IDs.
func Decode(layout snowflake.Layout, id snowflake.ID) (Decoded, error) {
	if err := layout.CheckID(id); err != nil {
		return Decoded{}, err
	}
	p := layout.Decompose(id)
	return Decoded{
		ID:       id.String(),
		Time:     p.Time.UTC().Format(TimeFormat),
		Tick:     p.Tick,
		Worker:   p.Worker,
		Sequence: p.Sequence,
	}, nil
}

func (s *Server) serveDecode(w http.ResponseWriter, r *http.Request) {
	vals, err := query(r, "/v1/decode/{id}", "encoding")
	if err != nil {
		s.writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	name := vals.Get("encoding")
	raw := r.PathValue("id")
	id, err := ParseID(raw, name)
	if err != nil {
		s.writeError(w, http.StatusBadRequest, fmt.Sprintf("%q is not an ID: %v", raw, err))
		return
	}
	d, err := Decode(s.layout, id)
	if err != nil {
		s.writeError(w, http.StatusBadRequest, fmt.Sprintf("%q is not an ID of this server's layout: %v", raw, err))
		return
	}
	s.writeJSON(w, http.StatusOK, d)
}

func (s *Server) serveLivez(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

func (s *Server) serveReadyz(w http.ResponseWriter, _ *http.Request) {
	if err := s.Ready(); err != nil {
		w.Header().Set("Retry-After", s.retry)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = fmt.Fprintf(w, "not ready: %v\n", err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ready\n"))
}

func (s *Server) serveNotFound(w http.ResponseWriter, r *http.Request) {
	s.writeError(w, http.StatusNotFound, fmt.Sprintf("no such path %q: the API is GET /v1/ids, GET /v1/decode/{id}, /livez, /readyz, /metrics and the idgen.v1.IDService RPCs", r.URL.Path))
}

// unavailable answers a request for IDs that the Generator refused.
func (s *Server) unavailable(w http.ResponseWriter, err error) {
	w.Header().Set("Retry-After", s.retry)
	s.writeError(w, http.StatusServiceUnavailable, unavailableMessage(err))
}

func unavailableMessage(err error) string {
	if errors.Is(err, idgen.ErrUnavailable) || errors.Is(err, idgen.ErrClosed) {
		return "cannot issue IDs now: " + err.Error()
	}
	return "cannot issue IDs: " + err.Error()
}

type errorBody struct {
	Error string `json:"error"`
}

func (s *Server) writeError(w http.ResponseWriter, code int, msg string) {
	s.writeJSON(w, code, errorBody{msg})
}

func (s *Server) writeJSON(w http.ResponseWriter, code int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		s.opts.Logger.Error("serve: encoding a response", "err", err)
		code, body = http.StatusInternalServerError, []byte(`{"error":"encoding the response failed"}`)
	}
	body = append(body, '\n')
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	_, _ = w.Write(body)
}
