package transform

import (
	"slices"
	"strings"

	"github.com/bigfather/bigfather/internal/confkey"
)

// Ops are the op names a step accepts, in the order errors list them.
var Ops = []string{OpRename, OpDrop, OpKeep, OpCast, OpDefault, OpParseTimestamp, OpTrim, OpLower, OpUpper,
	OpEmptyToNull, OpHash, OpMask, OpDerive, OpFlatten, OpFilter, OpEnrich}

// Validate checks what the config file alone tells of a step, naming the
// key of each problem; which other keys an op takes, its expressions and
// formats are checked by CompileTransforms. That LookupName names a known
// enrichment source is the caller's to check.
func (t Transform) Validate() error {
	var l confkey.List
	if !slices.Contains(Ops, t.Op) {
		l.Add("op", "%q is invalid: want one of %s", t.Op, strings.Join(Ops, ", "))
	}
	switch {
	case t.Op == OpHash && t.KeyEnv == "":
		l.Add("key_env", "required for op hash: the environment variable holding the HMAC key")
	case t.Op != OpHash && t.KeyEnv != "":
		l.Add("key_env", "only for op hash")
	}
	switch {
	case t.Op == OpEnrich && t.LookupName == "":
		l.Add("lookup", "required for op enrich: the name of an enrichment source")
	case t.Op != OpEnrich && t.LookupName != "":
		l.Add("lookup", "only for op enrich")
	}
	return l.Err()
}

// CleanseStep is one entry of a table's cleanse list: a transform step on
// some string columns, kept as its own key with fewer options.
type CleanseStep struct {
	// Op is trim (strip and fold white space), lower, upper, empty_to_null
	// (the columns must be optional), hash (hex HMAC-SHA256) or mask (keep
	// the last keep_last characters). Required.
	Op string `yaml:"op"`
	// Columns are top-level string columns. Required.
	Columns []string `yaml:"columns"`
	// KeyEnv names the environment variable holding a hash step's key; the
	// key itself never appears in the file or the logs. Required for hash.
	KeyEnv string `yaml:"key_env"`
	// KeepLast is how many trailing characters a mask step keeps.
	// Default 0.
	KeepLast int `yaml:"keep_last"`
}

// Validate checks the entry, naming the key of each problem.
func (st CleanseStep) Validate() error {
	var l confkey.List
	switch st.Op {
	case OpTrim, OpLower, OpUpper, OpEmptyToNull, OpMask:
		if st.KeyEnv != "" {
			l.Add("key_env", "only for op hash")
		}
	case OpHash:
		if st.KeyEnv == "" {
			l.Add("key_env", "required for op hash: the environment variable holding the HMAC key")
		}
	default:
		l.Add("op", "%q is invalid: want trim, lower, upper, empty_to_null, hash or mask", st.Op)
	}
	if len(st.Columns) == 0 {
		l.Add("columns", "required: the string columns to cleanse")
	}
	if st.KeepLast < 0 || (st.KeepLast > 0 && st.Op != OpMask) {
		l.Add("keep_last", "only for op mask, and >= 0")
	}
	return l.Err()
}

// Step returns the transform step the entry stands for; the caller sets
// Key from KeyEnv.
func (st CleanseStep) Step() Transform {
	return Transform{Op: st.Op, Columns: st.Columns, KeepLast: st.KeepLast, KeyEnv: st.KeyEnv}
}
