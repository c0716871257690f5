package table

import (
	"maps"
	"strconv"

	iceberg "github.com/apache/iceberg-go"
	icebergtable "github.com/apache/iceberg-go/table"
)

// MetadataVersionsKept is how many earlier metadata.json versions a table
// created by Big Father keeps (write.metadata.previous-versions-max); older
// ones are deleted after each commit. Every commit rewrites the whole
// metadata, so keeping them all grows the warehouse quadratically with
// the commit count.
const MetadataVersionsKept = 10

// DefaultTableProperties are set on every table Big Father creates, and
// added by the next commit to tables that lack them (tables created by
// earlier versions or by other tools). A value already on the table is
// never changed, so an operator can set other values with any Iceberg
// tool (e.g. ALTER TABLE ... SET TBLPROPERTIES in Spark) and they stay.
func DefaultTableProperties() iceberg.Properties {
	return iceberg.Properties{
		icebergtable.MetadataDeleteAfterCommitEnabledKey: "true",
		icebergtable.MetadataPreviousVersionsMaxKey:      strconv.Itoa(MetadataVersionsKept),
	}
}

// withDefaultProperties returns props over the defaults: the caller's
// values win.
func withDefaultProperties(props iceberg.Properties) iceberg.Properties {
	out := DefaultTableProperties()
	maps.Copy(out, props)
	return out
}

// missingDefaults returns the default properties the table does not have
// yet, nil when it has them all.
func missingDefaults(have iceberg.Properties) iceberg.Properties {
	var out iceberg.Properties
	for k, v := range DefaultTableProperties() {
		if _, ok := have[k]; ok {
			continue
		}
		if out == nil {
			out = iceberg.Properties{}
		}
		out[k] = v
	}
	return out
}
