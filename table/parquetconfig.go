package table

import (
	"slices"
	"strings"

	"github.com/bigfather/bigfather/internal/bytesize"
	"github.com/bigfather/bigfather/internal/confkey"
)

// ParquetCodecs are the values ParquetConfig.Compression accepts.
var ParquetCodecs = []string{"zstd", "snappy", "gzip", "brotli", "lz4", "uncompressed"}

// ParquetConfig is the parquet section of the config file: how every data
// file the pipeline writes is encoded (quarantine tables included). Its
// defaults are DefaultDataFileOptions'.
type ParquetConfig struct {
	// Compression is the codec of every column: zstd (default), snappy,
	// gzip, brotli, lz4 (LZ4_RAW) or uncompressed.
	Compression string `yaml:"compression"`
	// ZstdLevel is the zstd level, 1-22. Default 1: the fastest encoder,
	// for files a few percent larger than level 3's (bench/RESULTS.md).
	ZstdLevel int `yaml:"zstd_level"`
	// RowGroupSize is the target uncompressed size of a row group. Default
	// 128MiB (Iceberg's write.parquet.row-group-size-bytes).
	RowGroupSize bytesize.Size `yaml:"row_group_size"`
	// PageSize is the target size of a data page before compression.
	// Default 256KiB (see DataFileOptions.PageBytes for why not Iceberg's
	// 1MiB).
	PageSize bytesize.Size `yaml:"page_size"`
	// Dictionary turns dictionary encoding on; a column whose dictionary
	// does not pay for itself still falls back to plain encoding. Default
	// true.
	Dictionary bool `yaml:"dictionary"`
}

// DefaultParquetConfig returns the parquet settings used for every key the
// file does not set.
func DefaultParquetConfig() ParquetConfig {
	o := DefaultDataFileOptions()
	return ParquetConfig{
		Compression:  o.Compression,
		ZstdLevel:    o.ZstdLevel,
		RowGroupSize: bytesize.Size(o.RowGroupBytes),
		PageSize:     bytesize.Size(o.PageBytes),
		Dictionary:   o.DictionaryEnabled,
	}
}

// DataFileOptions returns the data file writer's options for c; what the
// section does not set (stats truncation) keeps its default.
func (c ParquetConfig) DataFileOptions() DataFileOptions {
	o := DefaultDataFileOptions()
	o.Compression, o.ZstdLevel, o.DictionaryEnabled = c.Compression, c.ZstdLevel, c.Dictionary
	o.RowGroupBytes, o.PageBytes = int64(c.RowGroupSize), int64(c.PageSize)
	return o
}

// Validate checks the section; every problem is a *confkey.Error naming
// its key.
func (c ParquetConfig) Validate() error {
	var l confkey.List
	if !slices.Contains(ParquetCodecs, c.Compression) {
		l.Add("compression", "%q is not a codec: want one of %s", c.Compression, strings.Join(ParquetCodecs, ", "))
	}
	if c.ZstdLevel < 1 || c.ZstdLevel > 22 {
		l.Add("zstd_level", "%d is out of range: want 1-22", c.ZstdLevel)
	}
	if c.RowGroupSize <= 0 {
		l.Add("row_group_size", "must be > 0")
	}
	if c.PageSize <= 0 || c.PageSize > c.RowGroupSize {
		l.Add("page_size", "must be > 0 and at most parquet.row_group_size")
	}
	return l.Err()
}
