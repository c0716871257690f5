package enrich

import "github.com/bigfather/bigfather/internal/confkey"

// Validate checks what the config file alone tells of a source, naming the
// key of each problem ("location", "columns[0].name"), so a config error
// points at its line. Open checks the rest (formats, types, output names,
// the location's reach) when it loads the data.
func (s Source) Validate() error {
	var l confkey.List
	if s.Name == "" {
		l.Add("name", "required: enrich steps refer to it")
	}
	if s.Location == "" {
		l.Add("location", "required: a path, file:// or s3:// URL, or iceberg:namespace.table")
	}
	if len(s.Key) == 0 {
		l.Add("key", "required: the reference data's key columns")
	}
	if len(s.Columns) == 0 {
		l.Add("columns", "required: the columns to add")
	}
	for j, col := range s.Columns {
		if col.Name == "" {
			l.Add(confkey.Index("columns", j)+".name", "required")
		}
	}
	if s.Refresh < 0 {
		l.Add("refresh", "must be >= 0")
	}
	return l.Err()
}
