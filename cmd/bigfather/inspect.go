package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	icebergtable "github.com/apache/iceberg-go/table"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bigfather/bigfather/ingest"
	"github.com/bigfather/bigfather/table"
)

// tableInfo is what inspect shows of one table.
type tableInfo struct {
	Table            string                                 `json:"table"`
	Location         string                                 `json:"location"`
	MetadataLocation string                                 `json:"metadata_location"` // the current metadata.json, for engines that register a table from it
	FormatVersion    int                                    `json:"format_version"`
	CurrentSnapshot  int64                                  `json:"current_snapshot,string"` // a string: jq and JavaScript round 63-bit ids
	CommittedRecords int64                                  `json:"committed_records"`       // rows in the current snapshot
	Pipeline         string                                 `json:"pipeline"`
	Watermarks       map[string]map[string]int64            `json:"watermarks"` // this pipeline's: topic → partition → next offset
	Lag              map[string]map[string]int64            `json:"lag,omitempty"`
	OtherPipelines   map[string]map[string]map[string]int64 `json:"other_pipelines,omitempty"`
	Snapshots        []snapshotInfo                         `json:"snapshots"`
	Files            *[]string                              `json:"files,omitempty"` // with --files: always a list, [] when empty
}

type snapshotInfo struct {
	ID        int64     `json:"id,string"`
	Time      time.Time `json:"time"`
	Operation string    `json:"operation"`
	Added     string    `json:"added_records,omitempty"`
	Pipeline  string    `json:"pipeline,omitempty"`
	CommitID  string    `json:"commit_id,omitempty"`
}

func cmdInspect(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	fs := newFlags("inspect", stdout)
	var cf configFlags
	cf.register(fs)
	var tables multiFlag
	fs.Var(&tables, "table", "table to inspect, `NS.NAME` (repeatable; default: every table in the config)")
	files := fs.Bool("files", false, "list the data files of the current snapshot")
	asJSON := fs.Bool("json", false, "print JSON (one object for one table, else an array)")
	paths := fs.Bool("paths", false, "print only the current snapshot's data files, one per line (file:// URIs as local paths), for readers and shell loops")
	if _, err := fs.parse(args); err != nil {
		return err
	}
	if *paths && *asJSON {
		return fmt.Errorf("%w: --paths and --json exclude each other", errUsage)
	}
	e, scrub, err := openToolEnv(ctx, &cf, stderr)
	if err != nil {
		return err
	}
	defer func() { err = scrub.Error(err) }()
	cfg := e.cfg
	var adm *kadm.Client
	base := ingest.BaseKafkaOpts(e.opts)
	if kafkaReachable(ctx, base) == nil {
		if cl, err := kgo.NewClient(base...); err == nil {
			defer cl.Close()
			adm = kadm.NewClient(cl)
		}
	}
	var infos []*tableInfo
	for _, name := range selectTables(cfg, tables) {
		tbl, err := loadNamed(ctx, e.cat, name)
		if err != nil {
			return err
		}
		info, err := inspectTable(ctx, tbl, cfg.Pipeline, adm, *files || *paths)
		if err != nil {
			return fmt.Errorf("inspect %s: %w", name, err)
		}
		infos = append(infos, info)
	}
	if *paths {
		for _, info := range infos {
			for _, f := range *info.Files {
				fmt.Fprintln(stdout, localPath(f))
			}
		}
		return nil
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if len(infos) == 1 {
			return enc.Encode(infos[0])
		}
		return enc.Encode(infos)
	}
	for _, info := range infos {
		printInfo(stdout, info)
	}
	return nil
}

func inspectTable(ctx context.Context, tbl *icebergtable.Table, pipeline string, adm *kadm.Client, withFiles bool) (*tableInfo, error) {
	meta := tbl.Metadata()
	info := &tableInfo{
		Table: strings.Join(tbl.Identifier(), "."), Location: tbl.Location(), MetadataLocation: tbl.MetadataLocation(),
		FormatVersion: meta.Version(),
		Pipeline:      pipeline, Watermarks: map[string]map[string]int64{},
	}
	if s := meta.CurrentSnapshot(); s != nil {
		info.CurrentSnapshot = s.SnapshotID
		if s.Summary != nil {
			info.CommittedRecords, _ = strconv.ParseInt(s.Summary.Properties["total-records"], 10, 64)
		}
	}
	for key := range meta.Properties() {
		p, ok := strings.CutPrefix(key, table.PropOffsetsPrefix)
		if !ok {
			continue
		}
		wm, err := table.Watermarks(meta, p)
		if err != nil {
			return nil, err
		}
		nested := nest(wm)
		if p == pipeline {
			info.Watermarks = nested
			continue
		}
		if info.OtherPipelines == nil {
			info.OtherPipelines = map[string]map[string]map[string]int64{}
		}
		info.OtherPipelines[p] = nested
	}
	if adm != nil {
		if err := addLag(ctx, info, adm, meta, pipeline); err != nil {
			return nil, err
		}
	}
	for _, s := range meta.Snapshots() {
		si := snapshotInfo{ID: s.SnapshotID, Time: time.UnixMilli(s.TimestampMs).UTC()}
		if s.Summary != nil {
			si.Operation = string(s.Summary.Operation)
			si.Added = s.Summary.Properties["added-records"]
			si.Pipeline = s.Summary.Properties[table.SummaryPipeline]
			si.CommitID = s.Summary.Properties[table.SummaryCommitID]
		}
		info.Snapshots = append(info.Snapshots, si)
	}
	if withFiles {
		files, err := liveFiles(ctx, tbl)
		if err != nil {
			return nil, err
		}
		info.Files = &files
	}
	return info, nil
}

// liveFiles lists the data files of tbl's current snapshot, sorted; never
// nil, so an empty table lists [] to jq rather than null.
func liveFiles(ctx context.Context, tbl *icebergtable.Table) ([]string, error) {
	files := []string{}
	if tbl.Metadata().CurrentSnapshot() == nil {
		return files, nil
	}
	tasks, err := tbl.Scan().PlanFiles(ctx)
	if err != nil {
		return nil, fmt.Errorf("plan files: %w", err)
	}
	for _, t := range tasks {
		files = append(files, t.File.FilePath())
	}
	slices.Sort(files)
	return files, nil
}

// localPath turns a file:// URI into the local path readers open; other
// URIs (s3://…) are returned as they are.
func localPath(uri string) string {
	if p, ok := strings.CutPrefix(uri, "file://"); ok {
		return p
	}
	return uri
}

func addLag(ctx context.Context, info *tableInfo, adm *kadm.Client, meta icebergtable.Metadata, pipeline string) error {
	wm, err := table.Watermarks(meta, pipeline)
	if err != nil || len(wm) == 0 {
		return err
	}
	var topics []string
	for tp := range wm {
		if !slices.Contains(topics, tp.Topic) {
			topics = append(topics, tp.Topic)
		}
	}
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return nil // lag is best effort; the watermarks are the answer
	}
	lag := table.Offsets{}
	for tp, w := range wm {
		if eo, ok := ends.Lookup(tp.Topic, tp.Partition); ok && eo.Err == nil {
			lag[tp] = max(eo.Offset-w, 0)
		}
	}
	info.Lag = nest(lag)
	return nil
}

func nest(o table.Offsets) map[string]map[string]int64 {
	out := map[string]map[string]int64{}
	for tp, v := range o {
		if out[tp.Topic] == nil {
			out[tp.Topic] = map[string]int64{}
		}
		out[tp.Topic][strconv.Itoa(int(tp.Partition))] = v
	}
	return out
}

func printInfo(w io.Writer, info *tableInfo) {
	fmt.Fprintf(w, "table %s (format v%d)\n  location  %s\n  metadata  %s\n  snapshot  %d, %d records\n",
		info.Table, info.FormatVersion, info.Location, info.MetadataLocation, info.CurrentSnapshot, info.CommittedRecords)
	fmt.Fprintf(w, "  watermarks of pipeline %s (next offset to consume; lag):\n", info.Pipeline)
	for _, topic := range sortedKeys(info.Watermarks) {
		for _, p := range sortedPartitions(info.Watermarks[topic]) {
			lag := "?"
			if l, ok := info.Lag[topic][p]; ok {
				lag = strconv.FormatInt(l, 10)
			}
			fmt.Fprintf(w, "    %s/%s  %d  lag %s\n", topic, p, info.Watermarks[topic][p], lag)
		}
	}
	for _, p := range sortedKeys(info.OtherPipelines) {
		fmt.Fprintf(w, "  other pipeline %s: %v\n", p, info.OtherPipelines[p])
	}
	n := len(info.Snapshots)
	fmt.Fprintf(w, "  snapshots (%d, newest last):\n", n)
	for _, s := range info.Snapshots[max(0, n-10):] {
		fmt.Fprintf(w, "    %d  %s  %-8s +%s records  %s %s\n", s.ID, s.Time.Format(time.RFC3339), s.Operation, s.Added, s.Pipeline, s.CommitID)
	}
	if info.Files != nil {
		fmt.Fprintf(w, "  data files of the current snapshot (%d):\n", len(*info.Files))
		for _, f := range *info.Files {
			fmt.Fprintf(w, "    %s\n", f)
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func sortedPartitions(m map[string]int64) []string {
	keys := sortedKeys(m)
	slices.SortFunc(keys, func(a, b string) int {
		x, _ := strconv.Atoi(a)
		y, _ := strconv.Atoi(b)
		return x - y
	})
	return keys
}
