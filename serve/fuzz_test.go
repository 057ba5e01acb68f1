package serve_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/snowlease/idgen/idgentest"
	"github.com/snowlease/idgen/serve"
	"github.com/snowlease/idgen/snowflake"
)

// Any query string gets 200 with exactly count IDs in the asked format, or
// 400 with a JSON error; never anything else, never a panic.
func FuzzIDsQuery(f *testing.F) {
	for _, q := range []string{"", "count=5", "count=0", "count=-1", "count=1e3", "format=text&count=3",
		"format=base58", "encoding=base2&format=text", "count=10001", "count=%zz", "x=1", "count=1&count=2",
		"format=base58&encoding=base36", "encoding="} {
		f.Add(q)
	}
	srv, err := serve.New(idgentest.New(f), serve.Options{MaxCount: 100})
	if err != nil {
		f.Fatal(err)
	}
	h := srv.Handler()
	f.Fuzz(func(t *testing.T, query string) {
		req := httptest.NewRequest("GET", "/v1/ids", nil)
		req.URL.RawQuery = query
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		body := w.Body.String()
		switch w.Code {
		case http.StatusBadRequest:
			var e struct{ Error string }
			if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error == "" {
				t.Fatalf("400 without a JSON error: %q", body)
			}
			return
		case http.StatusOK:
		default:
			t.Fatalf("query %q: status %d: %s", query, w.Code, body)
		}
		vals, err := url.ParseQuery(query)
		if err != nil {
			t.Fatalf("query %q does not parse (%v) but got 200", query, err)
		}
		want := 1
		if c := vals.Get("count"); c != "" {
			want, _ = strconv.Atoi(c)
		}
		var got []string
		if strings.EqualFold(vals.Get("format"), "text") {
			got = strings.Fields(body)
		} else {
			var v struct{ IDs []string }
			if err := json.Unmarshal([]byte(body), &v); err != nil {
				t.Fatalf("query %q: 200 with bad JSON %q: %v", query, body, err)
			}
			got = v.IDs
		}
		if len(got) != want {
			t.Fatalf("query %q: %d IDs, want %d", query, len(got), want)
		}
	})
}

// Any path segment gets 200 with the ID's parts, or 400; a 200 decodes the
// ID that the segment parses to.
func FuzzDecodePath(f *testing.F) {
	for _, s := range []string{"1541815603606036480", "0", "-1", "abc", "9223372036854775807", "5WrDwpzuG3u", ""} {
		f.Add(s, "")
		f.Add(s, "base58")
	}
	srv, err := serve.New(idgentest.New(f), serve.Options{})
	if err != nil {
		f.Fatal(err)
	}
	h := srv.Handler()
	f.Fuzz(func(t *testing.T, segment, encoding string) {
		if segment == "" || strings.ContainsAny(segment, "/?#%") {
			return // not one path segment
		}
		req := httptest.NewRequest("GET", "/v1/decode/x", nil)
		req.URL.Path = "/v1/decode/" + segment
		req.URL.RawPath = ""
		req.URL.RawQuery = url.Values{"encoding": {encoding}}.Encode()
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		switch w.Code {
		case http.StatusBadRequest, http.StatusNotFound, http.StatusMovedPermanently, http.StatusTemporaryRedirect:
			return // not an ID, or a path ServeMux cleans (".", "..")
		case http.StatusOK:
		default:
			t.Fatalf("%q (%q): status %d: %s", segment, encoding, w.Code, w.Body)
		}
		id, err := serve.ParseID(segment, encoding)
		if err != nil {
			t.Fatalf("%q (%q): 200 but ParseID fails: %v", segment, encoding, err)
		}
		var d serve.Decoded
		if err := json.Unmarshal(w.Body.Bytes(), &d); err != nil {
			t.Fatalf("bad JSON %q: %v", w.Body, err)
		}
		if want, _ := serve.Decode(snowflake.Twitter(), id); d != want {
			t.Fatalf("%q: decoded %+v, want %+v", segment, d, want)
		}
	})
}
