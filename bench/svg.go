package bench

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
)

// Chart geometry, in SVG user units.
const (
	svgW, svgH                     = 900.0, 440.0
	padL, padR, padTop, padBottom  = 80.0, 90.0, 56.0, 56.0
	plotW, plotH                   = svgW - padL - padR, svgH - padTop - padBottom
	colorCommitted, colorConsumed  = "#1f77b4", "#9aa5b1"
	colorBacklog, colorGrid, color = "#e4572e", "#e6e6e6", "#333"
)

// rateWindow is the moving window the chart's rates are averaged over, in
// seconds.
const rateWindow = 1.0

// WriteSVG draws the end-to-end phase over time from its samples: committed
// and consumed records/s (left axis, averaged over the last rateWindow
// seconds) and the backlog, produced − committed (right axis). It is written by hand:
// a few polylines need no chart library.
func (r *Report) WriteSVG(w io.Writer) error {
	if r.E2E == nil || len(r.E2E.Samples) < 2 {
		return errors.New("svg: the end-to-end phase has fewer than two samples")
	}
	s := r.E2E.Samples
	type pt struct{ t, v float64 }
	var committed, consumed, backlog []pt
	tMax, rateMax, backlogMax := s[len(s)-1].T, 0.0, 0.0
	// Rates over a moving window: commits are instants, so a rate between
	// consecutive samples would be spikes with nothing in between.
	j := 0
	for i := range s {
		backlog = append(backlog, pt{s[i].T, float64(s[i].Backlog)})
		backlogMax = max(backlogMax, float64(s[i].Backlog))
		for j < i-1 && s[j+1].T <= s[i].T-rateWindow {
			j++
		}
		dt := s[i].T - s[j].T
		if i == 0 || dt <= 0 {
			continue
		}
		c := float64(s[i].Committed-s[j].Committed) / dt
		n := float64(s[i].Consumed-s[j].Consumed) / dt
		committed = append(committed, pt{s[i].T, c})
		consumed = append(consumed, pt{s[i].T, n})
		rateMax = max(rateMax, c, n)
	}
	tStep, tTop := niceAxis(tMax)
	rStep, rTop := niceAxis(rateMax)
	bStep, bTop := niceAxis(backlogMax)
	x := func(t float64) float64 { return padL + plotW*t/tTop }
	yRate := func(v float64) float64 { return padTop + plotH*(1-v/rTop) }
	yBack := func(v float64) float64 { return padTop + plotH*(1-v/bTop) }
	line := func(pts []pt, y func(float64) float64) string {
		var b strings.Builder
		for i, p := range pts {
			if i > 0 {
				b.WriteByte(' ')
			}
			fmt.Fprintf(&b, "%.1f,%.1f", x(p.t), y(p.v))
		}
		return b.String()
	}

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif" font-size="12">`+"\n", svgW, svgH, svgW, svgH)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	title := fmt.Sprintf("bigfather bench %s: end to end, %s records over %d partitions", r.Workload, group(float64(r.Records)), r.Partitions)
	if e := r.Stage(StageE2E); e != nil {
		title += fmt.Sprintf(", %s records/s overall", group(e.RecordsPerSec))
	}
	fmt.Fprintf(&b, `<text x="%.0f" y="24" font-size="15" fill="%s">%s</text>`+"\n", padL, color, esc(title))

	// Grid and left axis (records/s).
	for v := 0.0; v <= rTop+rStep/2; v += rStep {
		y := yRate(v)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s"/>`+"\n", padL, y, padL+plotW, y, colorGrid)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end" fill="%s">%s</text>`+"\n", padL-6, y+4, colorCommitted, esc(short(v)))
	}
	// Right axis (backlog).
	for v := 0.0; v <= bTop+bStep/2; v += bStep {
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" fill="%s">%s</text>`+"\n", padL+plotW+6, yBack(v)+4, colorBacklog, esc(short(v)))
	}
	// Time axis.
	for t := 0.0; t <= tTop+tStep/2; t += tStep {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s"/>`+"\n", x(t), padTop+plotH, x(t), padTop+plotH+4, color)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" fill="%s">%s</text>`+"\n", x(t), padTop+plotH+18, color, esc(short(t)))
	}
	fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="%s"/>`+"\n", padL, padTop, plotW, plotH, color)
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" fill="%s">seconds since the pipeline started</text>`+"\n", padL+plotW/2, svgH-14, color)
	fmt.Fprintf(&b, `<text transform="translate(18 %.1f) rotate(-90)" text-anchor="middle" fill="%s">records/s</text>`+"\n", padTop+plotH/2, colorCommitted)
	fmt.Fprintf(&b, `<text transform="translate(%.1f %.1f) rotate(90)" text-anchor="middle" fill="%s">backlog (records produced − committed)</text>`+"\n", svgW-16, padTop+plotH/2, colorBacklog)

	fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.2" points="%s"/>`+"\n", colorConsumed, line(consumed, yRate))
	fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", colorCommitted, line(committed, yRate))
	fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", colorBacklog, line(backlog, yBack))

	// Legend.
	ly := 40.0
	for i, l := range []struct{ color, label string }{
		{colorCommitted, "committed records/s (1 s window)"},
		{colorConsumed, "consumed records/s (1 s window)"},
		{colorBacklog, "backlog (right axis)"},
	} {
		lx := padL + float64(i)*245
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="3"/>`, lx, ly, lx+22, ly, l.color)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" fill="%s">%s</text>`+"\n", lx+28, ly+4, color, esc(l.label))
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// niceAxis picks a tick step of 1, 2 or 5 × 10^k giving about five ticks
// up to at least v, and the axis top (a whole number of steps).
func niceAxis(v float64) (step, top float64) {
	if v <= 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 1, 1
	}
	raw := v / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	switch f := raw / mag; {
	case f <= 1:
		step = mag
	case f <= 2:
		step = 2 * mag
	case f <= 5:
		step = 5 * mag
	default:
		step = 10 * mag
	}
	return step, math.Ceil(v/step) * step
}

// short formats an axis value: 1.5k, 20M, 0.25.
func short(v float64) string {
	switch a := math.Abs(v); {
	case a >= 1e6:
		return trimZeros(fmt.Sprintf("%.2f", v/1e6)) + "M"
	case a >= 1e3:
		return trimZeros(fmt.Sprintf("%.2f", v/1e3)) + "k"
	default:
		return trimZeros(fmt.Sprintf("%.2f", v))
	}
}

func trimZeros(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}
