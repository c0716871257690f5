package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Stage is what one timed pass over the workload cost. Every rate is
// computed from the same Kafka bytes (keys plus values of the produced
// records), so the stages' MB/s compose; OutBytes is what the stage itself
// wrote, where it writes anything.
//
// CPU, allocations, GC and RSS are process-wide: with the in-process broker
// they include the broker serving fetches (L0, L1, E2E).
type Stage struct {
	Name       string `json:"name"`
	What       string `json:"what"`
	Records    int64  `json:"records"`
	KafkaBytes int64  `json:"kafka_bytes"`
	OutBytes   int64  `json:"out_bytes,omitempty"`
	Files      int    `json:"files,omitempty"`

	WallSeconds float64 `json:"wall_seconds"`
	CPUSeconds  float64 `json:"cpu_seconds"`

	RecordsPerSec float64 `json:"records_per_sec"`
	MBPerSec      float64 `json:"mb_per_sec"`
	// Cores is CPU time ÷ wall time (getrusage user+system).
	Cores             float64 `json:"cores"`
	RecordsPerCoreSec float64 `json:"records_per_core_sec"`
	MBPerCoreSec      float64 `json:"mb_per_core_sec"`
	CPUSecondsPerGB   float64 `json:"cpu_seconds_per_gb"`
	// AllocsPerRecord is the runtime.MemStats Mallocs delta ÷ records;
	// AllocBytesPerRecord the TotalAlloc delta ÷ records.
	AllocsPerRecord     float64 `json:"allocs_per_record"`
	AllocBytesPerRecord float64 `json:"alloc_bytes_per_record"`
	// GCShare is the runtime's GC CPU estimate ÷ the CPU it spent on
	// anything but idling (runtime/metrics /cpu/classes).
	GCShare float64 `json:"gc_share"`
	// PeakRSSBytes is getrusage's maxrss over the stage; the kernel's
	// high-water mark is reset when the stage starts where Linux allows it
	// (PeakRSSReset).
	PeakRSSBytes int64 `json:"peak_rss_bytes"`
	PeakRSSReset bool  `json:"peak_rss_reset"`
	// OtherCores is the average number of cores the rest of the machine
	// kept busy during the stage (/proc/stat busy time minus this
	// process's CPU, ÷ wall time): the noise indicator on a shared
	// machine. Zero where /proc/stat is unavailable.
	OtherCores float64 `json:"other_cores"`
}

// MB is the unit of every MB figure: 10^6 bytes.
const MB = 1e6

var cpuMetrics = []string{
	"/cpu/classes/gc/total:cpu-seconds",
	"/cpu/classes/total:cpu-seconds",
	"/cpu/classes/idle:cpu-seconds",
}

// probe holds the process counters at the start of a stage.
type probe struct {
	start        time.Time
	cpu          time.Duration
	mallocs      uint64
	totalAlloc   uint64
	gc, tot, idl float64
	rssReset     bool
	sysBusy      time.Duration
	profile      *os.File // the stage's CPU profile, being written; nil for none
	// allocs is where the stage's allocation profile goes ("" for none):
	// the process's cumulative profile at the start is written beside it
	// with the suffix .base, for go tool pprof -base.
	allocs string
}

// startProbe collects the garbage of earlier stages and returns the freed
// memory to the OS (so that neither is charged to this stage), resets the
// RSS high-water mark and reads the counters. Call it right before the
// timed work. A non-empty profile is a file to write the stage's CPU
// profile to.
func startProbe(profile string) (probe, error) {
	debug.FreeOSMemory()
	var p probe
	if profile != "" {
		f, err := os.Create(profile)
		if err != nil {
			return p, fmt.Errorf("CPU profile: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			_ = f.Close()
			return p, fmt.Errorf("CPU profile %s: %w", profile, err)
		}
		p.profile = f
		p.allocs = strings.TrimSuffix(profile, ".pprof") + ".allocs.pprof"
		if err := writeAllocs(p.allocs + ".base"); err != nil {
			p.endProfile()
			return p, err
		}
	}
	p.rssReset = resetPeakRSS()
	p.gc, p.tot, p.idl = readCPUClasses()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	p.mallocs, p.totalAlloc = ms.Mallocs, ms.TotalAlloc
	p.sysBusy = systemBusy()
	p.cpu = processCPU()
	p.start = time.Now()
	return p, nil
}

// stop ends the stage at end (the wall clock reading that ends it, usually
// time.Now()) and fills st's measured fields for records and kafkaBytes.
func (p probe) stop(st *Stage, end time.Time, records, kafkaBytes int64) {
	cpu := processCPU()
	p.endProfile()
	if p.allocs != "" {
		if err := writeAllocs(p.allocs); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err) // the figures stand without it
		}
	}
	sysBusy := systemBusy()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	rss := peakRSS()
	// The runtime refreshes its CPU-class estimates at GC time only.
	runtime.GC()
	gc, tot, idl := readCPUClasses()

	st.Records, st.KafkaBytes = records, kafkaBytes
	st.WallSeconds = end.Sub(p.start).Seconds()
	st.CPUSeconds = (cpu - p.cpu).Seconds()
	st.PeakRSSBytes, st.PeakRSSReset = rss, p.rssReset
	if p.sysBusy > 0 && st.WallSeconds > 0 {
		st.OtherCores = max(0, ((sysBusy-p.sysBusy)-(cpu-p.cpu)).Seconds()/st.WallSeconds)
	}
	if records > 0 {
		st.AllocsPerRecord = float64(ms.Mallocs-p.mallocs) / float64(records)
		st.AllocBytesPerRecord = float64(ms.TotalAlloc-p.totalAlloc) / float64(records)
	}
	if busy := (tot - p.tot) - (idl - p.idl); busy > 0 {
		st.GCShare = (gc - p.gc) / busy
	}
	st.derive()
}

// profilePath is where stage writes its CPU profile, or "" for none.
func (c *Config) profilePath(stage string) string {
	if c.CPUProfileDir == "" {
		return ""
	}
	return filepath.Join(c.CPUProfileDir, stage+".pprof")
}

// writeAllocs writes the process's allocation profile so far (every
// sampled allocation since start) to path.
func writeAllocs(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("allocation profile: %w", err)
	}
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		_ = f.Close()
		return fmt.Errorf("allocation profile %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("allocation profile %s: %w", path, err)
	}
	return nil
}

// endProfile finishes the stage's CPU profile, if any. It is safe to call
// more than once.
func (p probe) endProfile() {
	if p.profile != nil {
		pprof.StopCPUProfile()
		_ = p.profile.Close() // a second Close only errs
	}
}

// derive computes the rates from the counts and times.
func (st *Stage) derive() {
	mb := float64(st.KafkaBytes) / MB
	if st.WallSeconds > 0 {
		st.RecordsPerSec = float64(st.Records) / st.WallSeconds
		st.MBPerSec = mb / st.WallSeconds
		st.Cores = st.CPUSeconds / st.WallSeconds
	}
	if st.CPUSeconds > 0 {
		st.RecordsPerCoreSec = float64(st.Records) / st.CPUSeconds
		st.MBPerCoreSec = mb / st.CPUSeconds
	}
	if st.KafkaBytes > 0 {
		st.CPUSecondsPerGB = st.CPUSeconds / (float64(st.KafkaBytes) / 1e9)
	}
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// peakRSS is getrusage's maxrss in bytes (Linux reports KiB).
func peakRSS() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Maxrss * 1024
}

// resetPeakRSS resets the kernel's RSS high-water mark to the current RSS
// (Linux ≥ 4.0, "5" to /proc/self/clear_refs), so that maxrss describes
// the stage that follows. It reports whether the reset happened.
func resetPeakRSS() bool {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

// systemBusy is the machine's non-idle CPU time since boot from the first
// line of /proc/stat (user, nice, system, irq, softirq, steal; in
// USER_HZ ticks, 100 per second on Linux); 0 if unavailable.
func systemBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0
	}
	var ticks int64
	for _, i := range []int{1, 2, 3, 6, 7, 8} { // user nice system _idle _iowait irq softirq steal
		v, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			return 0
		}
		ticks += v
	}
	return time.Duration(ticks) * (time.Second / 100)
}

func readCPUClasses() (gc, total, idle float64) {
	s := make([]metrics.Sample, len(cpuMetrics))
	for i, name := range cpuMetrics {
		s[i].Name = name
	}
	metrics.Read(s)
	f := func(i int) float64 {
		if s[i].Value.Kind() == metrics.KindFloat64 {
			return s[i].Value.Float64()
		}
		return 0
	}
	return f(0), f(1), f(2)
}
