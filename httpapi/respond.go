package httpapi

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
)

// maxBodyBytes bounds request bodies: jobs are small, and an unbounded body
// would let one request exhaust memory.
const maxBodyBytes = 32 << 20

func writeJSON(w http.ResponseWriter, r *http.Request, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	if _, ok := r.URL.Query()["pretty"]; ok {
		enc.SetIndent("", "    ")
	}
	_ = enc.Encode(v) // the client hung up; nothing left to tell it
}

// writeError answers with Nomad's plain-text error body, or with the JSON
// body an error carries (a variable write's conflict answers with the
// variable as it stands).
func writeError(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	var sc StatusCoder
	if errors.As(err, &sc) {
		code = sc.StatusCode()
	}
	var jb JSONBodyError
	if errors.As(err, &jb) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(jb.JSONBody())
		return
	}
	http.Error(w, err.Error(), code)
}

// JSONBodyError is an error answered with a JSON body instead of text.
type JSONBodyError interface {
	error
	JSONBody() any
}

// decodeBody reads a JSON body into v; malformed input is a 400.
func decodeBody(r *http.Request, v any) error {
	_, err := decodeBodyRaw(r, v)
	return err
}

// decodeBodyRaw is decodeBody that also returns the raw body.
func decodeBodyRaw(r *http.Request, v any) ([]byte, error) {
	body := http.MaxBytesReader(nil, r.Body, maxBodyBytes)
	b, err := io.ReadAll(body)
	if err != nil {
		return nil, codedErr(http.StatusBadRequest, "Failed to read request body: %v", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return nil, codedErr(http.StatusBadRequest, "Failed to parse request body: %v", err)
	}
	return b, nil
}

// queryBool parses a boolean query parameter; absent is def.
func queryBool(r *http.Request, name string, def bool) (bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, codedErr(http.StatusBadRequest, "Invalid value for %q: %q", name, v)
	}
	return b, nil
}

// namespaceOf returns the request's namespace, "default" when unset.
func namespaceOf(r *http.Request) string {
	if ns := r.URL.Query().Get("namespace"); ns != "" {
		return ns
	}
	return "default"
}
