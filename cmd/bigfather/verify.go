package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/apache/iceberg-go/catalog"
	icebergtable "github.com/apache/iceberg-go/table"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bigfather/bigfather/ingest"
	"github.com/bigfather/bigfather/internal/config"
	"github.com/bigfather/bigfather/table"
)

var errViolations = errors.New("invariant violations found")

func cmdVerify(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	fs := newFlags("verify", stdout)
	var cf configFlags
	cf.register(fs)
	var tables multiFlag
	fs.Var(&tables, "table", "table to verify, `NS.NAME` (repeatable; default: every table in the config)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	noKafka := fs.Bool("no-kafka", false, "check the table alone, without comparing against Kafka")
	if _, err := fs.parse(args); err != nil {
		return err
	}
	e, scrub, err := openToolEnv(ctx, &cf, stderr)
	if err != nil {
		return err
	}
	defer func() { err = scrub.Error(err) }()
	cfg := e.cfg
	var delivered table.DeliveredFunc
	var base []kgo.Opt
	if !*noKafka {
		base = ingest.BaseKafkaOpts(e.opts)
		if err := kafkaReachable(ctx, base); err != nil {
			fmt.Fprintf(stderr, "kafka not reachable (%v): checking the tables alone\n", err)
		} else {
			delivered = ingest.Delivered(base)
		}
	}
	var reports []*table.Report
	for _, group := range verifyGroups(cfg, selectTables(cfg, tables)) {
		// The tables one topic feeds, and their quarantine tables, are
		// verified together: EO holds across them, every offset in exactly
		// one.
		var data, rejects []*icebergtable.Table
		for _, name := range group {
			tbl, err := loadNamed(ctx, e.cat, name)
			if err != nil {
				return err
			}
			data = append(data, tbl)
			if rname := rejectsOf(cfg, name); rname != "" {
				rej, err := loadOptional(ctx, e.cat, rname)
				if err != nil {
					return err
				}
				if rej != nil {
					rejects = append(rejects, rej)
				}
			}
		}
		var opts []table.VerifyOption
		if cfg.Kafka.Start.Kind == ingest.StartEarliest {
			// Started at the log start: a record before the first offset
			// the tables cover is missing, not before the pipeline's time.
			opts = append(opts, table.FromLogStart())
		}
		var absent []string
		if delivered != nil {
			// Every partition the group's tables are fed from is checked,
			// committed or not; so are the partitions the tables hold.
			sub, err := groupSubscription(cfg, group, append(slices.Clip(data), rejects...))
			if err != nil {
				return err
			}
			parts, missing, err := ingest.VerifyPartitions(ctx, base, sub)
			if err != nil {
				return fmt.Errorf("verify %s: %w", strings.Join(group, ", "), err)
			}
			absent = missing
			opts = append(opts, table.WithKafkaPartitions(parts))
			// A topic recreated under the watermarks is a violation.
			opts = append(opts, table.WithTopicIDs(ingest.CurrentTopicIDs(base)))
		}
		rep, err := table.VerifyTables(ctx, data, rejects, cfg.Pipeline, delivered, opts...)
		if err != nil {
			return fmt.Errorf("verify %s: %w", strings.Join(group, ", "), err)
		}
		for _, topic := range absent {
			rep.Notes = append(rep.Notes, fmt.Sprintf("topic %s: not in Kafka: nothing of it can be checked", topic))
		}
		reports = append(reports, rep)
	}
	bad := false
	for _, r := range reports {
		bad = bad || !r.OK()
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(map[string]any{"ok": !bad, "reports": reports}); err != nil {
			return err
		}
	} else {
		for _, r := range reports {
			printReport(stdout, r)
		}
	}
	if bad {
		return errViolations
	}
	return nil
}

func printReport(w io.Writer, r *table.Report) {
	kafka := "yes (read_committed)"
	if !r.KafkaChecked {
		kafka = "no (table-only checks)"
	}
	fmt.Fprintf(w, "table %s  pipeline %s  snapshot %d  compared with Kafka: %s\n", r.Table, r.Pipeline, r.Snapshot, kafka)
	switch {
	case len(r.Tables) > 0:
		fmt.Fprintf(w, "tables %s (checked together: every offset in exactly one)\n", strings.Join(r.Tables, ", "))
	case r.Rejects != "":
		fmt.Fprintf(w, "quarantine %s (checked together: every offset in exactly one)\n", r.Rejects)
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  PARTITION\tFIRST\tWATERMARK\tREJECTS-W\tCHECKED-TO\tROWS\tREJECTS\tSKIPPED\tSTATUS")
	for _, p := range r.Partitions {
		status := "ok"
		var probs []string
		for kind, l := range map[string][]int64{"dup": p.Duplicates, "unexpected": p.Unexpected, "beyond-W": p.Beyond} {
			if len(l) > 0 {
				probs = append(probs, fmt.Sprintf("%s %v", kind, l))
			}
		}
		if p.MissingCount > 0 {
			probs = append(probs, fmt.Sprintf("missing %d", p.MissingCount))
		}
		if k := p.Kafka; k != nil && !p.NeverCommitted && p.Unverified == "" {
			if p.CheckedTo < k.LogStart {
				probs = append(probs, fmt.Sprintf("data loss: watermark below the log start %d", k.LogStart))
			}
			if max(p.Watermark, p.CheckedTo) > k.LogEnd {
				probs = append(probs, fmt.Sprintf("watermark above the log end %d", k.LogEnd))
			}
		}
		switch {
		case len(probs) > 0:
			status = strings.Join(probs, "; ")
		case p.Unverified != "":
			status = "unverified"
		case p.Deleted != nil && p.Deleted.Unverifiable > 0:
			status = fmt.Sprintf("ok (%d unverifiable)", p.Deleted.Unverifiable)
		}
		if p.NeverCommitted {
			status = "never committed: " + status
		}
		rw := "-"
		if p.RejectsWatermark != nil {
			rw = fmt.Sprint(*p.RejectsWatermark)
		}
		fmt.Fprintf(tw, "  %s/%d\t%d\t%d\t%s\t%d\t%d\t%d\t%d\t%s\n", p.Topic, p.Partition, p.First, p.Watermark, rw, p.CheckedTo,
			p.Rows, p.Rejects, p.Skipped, status)
	}
	tw.Flush()
	for _, n := range r.Notes {
		fmt.Fprintf(w, "  note: %s\n", n)
	}
	if r.OK() {
		fmt.Fprintln(w, "OK: exactly-once (EO) and monotonic watermarks (MONO) hold")
		return
	}
	fmt.Fprintf(w, "FAIL: %d violation(s)\n", len(r.Violations))
	for _, v := range r.Violations {
		fmt.Fprintf(w, "  - %s\n", v)
	}
}

// kafkaReachable asks the cluster for metadata with a short deadline.
func kafkaReachable(ctx context.Context, base []kgo.Opt) error {
	cl, err := kgo.NewClient(base...)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err = kadm.NewClient(cl).BrokerMetadata(ctx)
	return err
}

func selectTables(cfg *config.Config, flagged []string) []string {
	if len(flagged) > 0 {
		return flagged
	}
	var out []string
	for _, t := range cfg.Tables {
		out = append(out, t.Table)
	}
	return out
}

// verifyGroups splits names into the groups verified together: tables
// that share a topic (named, or matched by another's topic pattern) are in
// one group, in config order. A table not in the config is a group alone.
func verifyGroups(cfg *config.Config, names []string) [][]string {
	idx := map[string]int{}
	for i, t := range cfg.Tables {
		idx[t.Table] = i
	}
	shares := func(a, b ingest.TableRoute) bool {
		for _, topic := range a.AllTopics() {
			if slices.Contains(b.AllTopics(), topic) {
				return true
			}
			for _, pat := range b.TopicPatterns {
				if re, err := regexp.Compile("^(?:" + pat + ")$"); err == nil && re.MatchString(topic) {
					return true
				}
			}
		}
		return false
	}
	var groups [][]string
	done := map[string]bool{}
	for _, name := range names {
		if done[name] {
			continue
		}
		done[name] = true
		// Breadth first: every selected table sharing a topic with one
		// already in the group joins it.
		group := []string{name}
		for k := 0; k < len(group); k++ {
			gi, ok := idx[group[k]]
			if !ok {
				continue // not in the config: a group alone
			}
			for _, other := range names {
				if j, ok := idx[other]; ok && !done[other] && (shares(cfg.Tables[gi], cfg.Tables[j]) || shares(cfg.Tables[j], cfg.Tables[gi])) {
					group, done[other] = append(group, other), true
				}
			}
		}
		groups = append(groups, group)
	}
	return groups
}

// rejectsOf returns the quarantine table of the route whose table is name,
// or "" when it has none (quarantine disabled, or a table not in the
// config).
func rejectsOf(cfg *config.Config, name string) string {
	for _, t := range cfg.Tables {
		if t.Table == name {
			return t.Rejects
		}
	}
	return ""
}

// cat0 loads a quarantine table, which exists once the pipeline has been
// assigned a partition; nil when it does not exist yet.
func loadOptional(ctx context.Context, cat catalog.Catalog, name string) (*icebergtable.Table, error) {
	tbl, err := cat.LoadTable(ctx, catalog.ToIdentifier(name))
	if errors.Is(err, catalog.ErrNoSuchTable) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load quarantine table %s: %w", name, err)
	}
	return tbl, nil
}

func loadNamed(ctx context.Context, cat catalog.Catalog, name string) (*icebergtable.Table, error) {
	tbl, err := cat.LoadTable(ctx, catalog.ToIdentifier(name))
	if err != nil {
		return nil, fmt.Errorf("load table %s: %w", name, err)
	}
	return tbl, nil
}

// groupSubscription is what verify asks Kafka about for a group of tables:
// the topics the config feeds them from (by name, and every topic matching
// a pattern), plus every topic the tables hold watermarks for.
func groupSubscription(cfg *config.Config, group []string, tables []*icebergtable.Table) (ingest.Subscription, error) {
	sub := ingest.Subscription{StartKind: cfg.Kafka.Start.Kind, StartAt: cfg.Kafka.Start.At}
	add := func(topic string) {
		if !slices.Contains(sub.Topics, topic) {
			sub.Topics = append(sub.Topics, topic)
		}
	}
	for _, t := range cfg.Tables {
		if !slices.Contains(group, t.Table) {
			continue
		}
		for _, topic := range t.AllTopics() {
			add(topic)
		}
		for k, pat := range t.TopicPatterns {
			re, err := regexp.Compile("^(?:" + pat + ")$")
			if err != nil {
				return sub, fmt.Errorf("%s: topic_patterns[%d]: %w", t.Table, k, err)
			}
			sub.Patterns = append(sub.Patterns, re)
		}
	}
	for _, tbl := range tables {
		wm, err := table.Watermarks(tbl.Metadata(), cfg.Pipeline)
		if err != nil {
			return sub, err
		}
		for _, tp := range wm.SortedTPs() {
			add(tp.Topic)
		}
	}
	return sub, nil
}
