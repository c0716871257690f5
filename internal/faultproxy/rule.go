package faultproxy

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// ParseRule reads a rule from space-separated key=value fields, the form
// the faultproxy command takes on its command line:
//
//	name=meta method=PUT path=/metadata/[^/]+\.metadata\.json$ fail=0.05 drop=0.3 delay=0.05 delay_min=50ms delay_max=800ms
//
// fail_after=P (forward, then answer 500) and max=N are accepted too.
// Probabilities are in [0, 1]; fail, drop and fail_after are exclusive
// outcomes drawn in that order, so their sum must not exceed 1.
func ParseRule(spec string) (Rule, error) {
	var r Rule
	for _, f := range strings.Fields(spec) {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return Rule{}, fmt.Errorf("parse rule %q: field %q is not key=value", spec, f)
		}
		var err error
		switch k {
		case "name":
			r.Name = v
		case "method":
			r.Method = strings.ToUpper(v)
		case "path":
			r.Path, err = regexp.Compile(v)
		case "fail":
			r.Fail, err = parseProb(v)
		case "drop":
			r.Drop, err = parseProb(v)
		case "fail_after":
			r.FailAfter, err = parseProb(v)
		case "delay":
			r.Delay, err = parseProb(v)
		case "delay_min":
			r.DelayMin, err = time.ParseDuration(v)
		case "delay_max":
			r.DelayMax, err = time.ParseDuration(v)
		case "max":
			r.Max, err = strconv.ParseInt(v, 10, 64)
		default:
			return Rule{}, fmt.Errorf("parse rule %q: unknown key %q", spec, k)
		}
		if err != nil {
			return Rule{}, fmt.Errorf("parse rule %q: %s: %w", spec, k, err)
		}
	}
	if sum := r.Fail + r.Drop + r.FailAfter; sum > 1 {
		return Rule{}, fmt.Errorf("parse rule %q: fail+drop+fail_after = %g exceeds 1", spec, sum)
	}
	if r.DelayMax < r.DelayMin {
		if r.DelayMax != 0 {
			return Rule{}, fmt.Errorf("parse rule %q: delay_max %s is below delay_min %s", spec, r.DelayMax, r.DelayMin)
		}
		r.DelayMax = r.DelayMin
	}
	if r.Delay > 0 && r.DelayMax == 0 {
		return Rule{}, fmt.Errorf("parse rule %q: delay needs delay_min or delay_max", spec)
	}
	return r, nil
}

func parseProb(v string) (float64, error) {
	p, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return 0, err
	}
	if p < 0 || p > 1 {
		return 0, fmt.Errorf("probability %g is outside [0, 1]", p)
	}
	return p, nil
}
