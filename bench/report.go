package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
)

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteText writes the report as a readable table with the headline ratio
// and the end-to-end details.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	kafka := r.Kafka
	if kafka == KafkaInProcess {
		kafka = "in-process kfake + srfake on 127.0.0.1 (the broker's CPU, allocations and RSS are in every figure)"
	}
	kp := r.KafkaProcess
	if kp != nil {
		kafka = fmt.Sprintf("broker in its own process, pid %d (%s), at %s, registry %s", kp.PID, childName(kp.Command),
			strings.Join(kp.Brokers, ","), kp.RegistryURL)
	}
	m := r.Machine
	fmt.Fprintf(&b, "Big Father bench: workload %s, %s records over %d partitions, %s of Kafka keys+values (avg %.0f B/record)\n",
		r.Workload, group(float64(r.Records)), r.Partitions, mbytes(r.KafkaBytes), r.AvgRecordBytes)
	fmt.Fprintf(&b, "  workload   %s\n", r.WorkloadWhat)
	fmt.Fprintf(&b, "  machine    %s/%s, %d CPUs (GOMAXPROCS %d), %s, %s\n", m.GOOS, m.GOARCH, m.NumCPU, m.GOMAXPROCS, orDash(m.CPUModel), m.GoVersion)
	fmt.Fprintf(&b, "  kafka      %s, topic %s\n", kafka, r.Topic)
	if kp != nil {
		fmt.Fprintf(&b, "             its CPU, allocations and RSS are NOT in the figures; its CPU is in \"other cores\"")
		if kp.CPUSeconds > 0 || kp.PeakRSSBytes > 0 {
			fmt.Fprintf(&b, " (whole run, loading included: %.1f CPU-s, peak RSS %.0f MB)", kp.CPUSeconds, float64(kp.PeakRSSBytes)/MB)
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "  warehouse  %s (SQLite catalog)\n", r.Warehouse)
	codec := r.Compression
	if r.ZstdLevel != 0 {
		codec += fmt.Sprintf(" level %d", r.ZstdLevel)
	}
	if !r.Dictionary {
		codec += ", no dictionaries"
	}
	if r.PageBytes > 0 && r.RowGroupBytes > 0 {
		codec += fmt.Sprintf(", pages %s, row groups %s", mbytes(r.PageBytes), mbytes(r.RowGroupBytes))
	}
	fmt.Fprintf(&b, "  pipeline   flush.max_latency %gs, flush.max_records %d, target_file_size %s, %s\n",
		r.FlushMaxLatencySeconds, r.FlushMaxRecords, mbytes(r.TargetFileSize), codec)
	if r.MemoryBudget > 0 {
		fmt.Fprintf(&b, "  memory     memory_budget %s, Go memory limit %s and GOGC %s while the pipeline runs\n", mbytes(r.MemoryBudget), mbytes(r.MemoryLimit), gogc(r.GCPercent))
	}
	if r.LoadSeconds > 0 {
		fmt.Fprintf(&b, "  loaded     in %.1f s before timing (%s records/s produced, acks=all)\n",
			r.LoadSeconds, group(float64(r.Records)/r.LoadSeconds))
	}
	b.WriteString("\n")

	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "stage\twall s\trecords/s\tMB/s\tcores\trec/s/core\tMB/s/core\tCPU-s/GB\tallocs/rec\talloc B/rec\tGC %\tpeak RSS MB\tout MB\tfiles\tother cores\t")
	for _, s := range r.Stages {
		out, files := "-", "-"
		if s.OutBytes > 0 {
			out = fmt.Sprintf("%.1f", float64(s.OutBytes)/MB)
		}
		if s.Files > 0 {
			files = strconv.Itoa(s.Files)
		}
		fmt.Fprintf(tw, "%s\t%.2f\t%s\t%.1f\t%.2f\t%s\t%.1f\t%.1f\t%.1f\t%.0f\t%.1f\t%.0f\t%s\t%s\t%.2f\t\n",
			s.Name, s.WallSeconds, group(s.RecordsPerSec), s.MBPerSec, s.Cores, group(s.RecordsPerCoreSec), s.MBPerCoreSec,
			s.CPUSecondsPerGB, s.AllocsPerRecord, s.AllocBytesPerRecord, 100*s.GCShare, float64(s.PeakRSSBytes)/MB, out, files, s.OtherCores)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	b.WriteString("\n")
	for _, s := range r.Stages {
		fmt.Fprintf(&b, "  %-4s %s\n", s.Name, s.What)
	}
	b.WriteString("  (MB/s, rec/s/core and CPU-s/GB are per Kafka byte for every stage, so they compose; cores = this process's CPU time ÷ wall time;\n")
	if kp != nil {
		b.WriteString("   other cores = CPU the rest of the machine used meanwhile: the broker's process, and the noise on a shared machine)\n\n")
	} else {
		b.WriteString("   other cores = CPU the rest of the machine used meanwhile, the noise on a shared machine)\n\n")
	}

	if r.BoundRecordsPerSec > 0 {
		fmt.Fprintf(&b, "composed bound 1/(1/L1 + 1/L2 + 1/L3)  %s records/s  (counting L0 as well: %s records/s)\n",
			group(r.BoundRecordsPerSec), group(r.BoundWithL0RecordsPerSec))
	} else {
		b.WriteString("composed bound                         not measured (the limit stages were skipped)\n")
	}
	if e := r.Stage(StageE2E); e != nil {
		fmt.Fprintf(&b, "end to end                             %s records/s\n", group(e.RecordsPerSec))
	}
	if r.BoundRecordsPerSec > 0 {
		fmt.Fprintf(&b, "ratio end to end ÷ composed bound      %.2f\n", r.Ratio)
	}

	if e := r.E2E; e != nil {
		b.WriteString("\nend to end:\n")
		fmt.Fprintf(&b, "  committed            %d records, watermarks sum %d = %d produced offsets, table %s\n",
			e.Committed, e.WatermarkSum, e.ProducedOffsets, e.Table)
		var wall float64
		if st := r.Stage(StageE2E); st != nil {
			wall = st.WallSeconds
		}
		fmt.Fprintf(&b, "  timeline             group joined at %.2f s, first commit at %.2f s, all consumed at %.2f s, all committed at %.2f s\n",
			e.JoinSeconds, e.FirstCommitSeconds, e.ConsumedAllSeconds, wall)
		interval := "-"
		if e.Commits > 1 {
			interval = fmt.Sprintf("%.2f s", e.CommitIntervalP50)
		}
		if tail := wall - e.ConsumedAllSeconds; e.ConsumedAllSeconds > 0 && tail > r.FlushMaxLatencySeconds/2 {
			fmt.Fprintf(&b, "  note                 the last batch waited %.2f s after the last record for its flush timer: the backlog did not\n"+
				"                       divide into batches of flush.max_records, so end to end includes up to one flush.max_latency of idling\n", tail)
		}
		if l2 := r.Stage(StageL2); l2 != nil && l2.Files != e.DataFiles {
			fmt.Fprintf(&b, "  note                 the pipeline wrote %d data files where L2 cut %d: flush.max_latency or the memory budget cut\n"+
				"                       its batches before flush.max_records, so L2 encoded a different file layout than end to end did\n", e.DataFiles, l2.Files)
		}
		fmt.Fprintf(&b, "  commits              %d (p50 interval %s): %.1f files, %s, %s records per commit\n",
			e.Commits, interval, e.FilesPerCommit, mbytes(int64(e.BytesPerCommit)), group(e.RecordsPerCommit))
		fmt.Fprintf(&b, "  commit latency       p50 %s, p99 %s, mean %s (bigfather_commit_duration_seconds)\n",
			millis(e.CommitLatencyP50), millis(e.CommitLatencyP99), millis(e.CommitLatencyMean))
		fmt.Fprintf(&b, "  bytes written        data files %s, all table objects %s\n", mbytes(e.DataFileBytes), mbytes(e.WarehouseBytes))
		fmt.Fprintf(&b, "  write amplification  %.3f data files ÷ Kafka bytes, %.3f all objects ÷ Kafka bytes\n",
			e.WriteAmplification, e.WriteAmplificationTotal)
		fmt.Fprintf(&b, "  peak backlog         %d records (produced − committed)\n", e.PeakBacklog)
	}
	if f := r.Freshness; f != nil {
		writeFreshness(&b, f)
	}
	fmt.Fprintf(&b, "peak RSS of the process over all phases: %.0f MB\n", float64(r.PeakRSSBytes)/MB)
	_, err := io.WriteString(w, b.String())
	return err
}

// childName is the spawned command as "program subcommand", without the
// program's directory or the flags.
func childName(argv []string) string {
	if len(argv) == 0 {
		return "-"
	}
	name := filepath.Base(argv[0])
	if len(argv) > 1 && !strings.HasPrefix(argv[1], "-") {
		name += " " + argv[1]
	}
	return name
}

// group formats v rounded to an integer with thousands separators.
func group(v float64) string {
	s := strconv.FormatInt(int64(v+0.5), 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var out []byte
	for i, c := range []byte(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, c)
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}

func mbytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n < 1<<20 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	case n >= 100_000:
		return fmt.Sprintf("%.1f MB", float64(n)/MB)
	default:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	}
}

func millis(s float64) string { return fmt.Sprintf("%.1f ms", s*1e3) }

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// writeFreshness writes the freshness section.
func writeFreshness(b *strings.Builder, f *Freshness) {
	b.WriteString("\nfreshness (produce → visible in a committed snapshot, under a steady produce rate):\n")
	fmt.Fprintf(b, "  produced             %s records in %.2f s: %s records/s achieved of %s targeted (handed over every %s; franz-go producer\n"+
		"                       defaults, acks=all, 10 ms linger), topic %s, table %s\n",
		group(float64(f.Records)), f.ProduceSeconds, group(f.RecordsPerSec), group(f.TargetRecordsPerSec), millis(f.TickSeconds), f.Topic, f.Table)
	if !f.KeptRate() || f.MaxBehindSeconds > 10*f.TickSeconds {
		fmt.Fprintf(b, "  note                 the producer did not keep its schedule (backpressure): at most %s behind, %s of %s scheduled\n"+
			"                       records/s achieved; the figures below are for the achieved rate\n",
			millis(f.MaxBehindSeconds), group(f.RecordsPerSec), group(f.TargetRecordsPerSec))
	}
	fmt.Fprintf(b, "  pipeline             flush.max_latency %gs cuts every batch (flush.max_records %d is never reached): %d commits;\n"+
		"                       %.2f cores used by this process, %.2f by the rest of the machine meanwhile\n",
		f.FlushMaxLatencySeconds, f.FlushMaxRecords, f.Commits, f.Cores, f.OtherCores)
	fmt.Fprintf(b, "  freshness            p50 %.3f s, p90 %.3f s, p99 %.3f s, max %.3f s, mean %.3f s\n", f.P50, f.P90, f.P99, f.Max, f.Mean)
	verdict := "PASS"
	cmp := "≤"
	if !f.Pass {
		verdict, cmp = "FAIL", ">"
	}
	fmt.Fprintf(b, "  target               p99 ÷ flush.max_latency = %.2f %s %g: %s (target: freshness p99 ≤ %g × the flush latency)\n",
		f.P99OverFlush, cmp, f.TargetRatio, verdict, f.TargetRatio)
	fmt.Fprintf(b, "  resolution           the catalog was loaded every %s (%d loads, mean interval %s, max %s): a record counts as\n"+
		"                       visible when a completed load shows its partition's watermark past its offset, so each figure\n"+
		"                       includes up to one interval (~%s) plus a load's duration beyond the commit itself\n",
		millis(f.PollIntervalSeconds), f.Polls, millis(f.PollMeanSeconds), millis(f.PollMaxSeconds), millis(f.PollIntervalSeconds))
	fmt.Fprintf(b, "  warm-up, drain       one record per partition visible %.2f s after the pipeline started (join, table creation; not\n"+
		"                       counted); the last record visible %.2f s after its hand-off\n", f.WarmupSeconds, f.DrainSeconds)
}

// gogc renders a GOGC value as the runtime reads it.
func gogc(percent int) string {
	if percent < 0 {
		return "off"
	}
	return strconv.Itoa(percent)
}
