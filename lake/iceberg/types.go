package iceberg

import (
	"fmt"

	"github.com/apache/iceberg-go"

	"github.com/tributary-dev/tributary/lake"
	"github.com/tributary-dev/tributary/schema"
)

// The metadata columns every lake table ends with.
const (
	// ColCommittedAt is the source transaction's commit time (timestamptz,
	// millisecond precision: the envelope carries milliseconds).
	ColCommittedAt = "_tributary_committed_at"
	// ColPosition is the change's source position (string), as
	// lake.RowMeta.Position.
	ColPosition = "_tributary_position"
	// ColOp is the change's op: "c", "u" or "r" (string).
	ColOp = "_tributary_op"
	// ColIngestedAt is when the compactor committed the row (timestamptz).
	ColIngestedAt = "_tributary_ingested_at"
)

// metaColumns lists the metadata columns in table order.
var metaColumns = []iceberg.NestedField{
	{Name: ColCommittedAt, Type: iceberg.PrimitiveTypes.TimestampTz, Doc: "Commit time of the source transaction"},
	{Name: ColPosition, Type: iceberg.PrimitiveTypes.String, Doc: "Source position of the change (GTID, binlog file:pos or LSN, then #row)"},
	{Name: ColOp, Type: iceberg.PrimitiveTypes.String, Required: true, Doc: "Change op: c (insert), u (update), r (snapshot read)"},
	{Name: ColIngestedAt, Type: iceberg.PrimitiveTypes.TimestampTz, Required: true, Doc: "When the compactor committed the row"},
}

// maxDecimalPrecision is the largest precision an Iceberg decimal holds.
const maxDecimalPrecision = 38

// uint64Decimal holds every uint64 (20 digits).
var uint64Decimal = iceberg.DecimalTypeOf(20, 0)

// IcebergType returns the Iceberg type a neutral column type is stored as.
// The mapping is exact: where Iceberg has no equal type the value is kept
// as a wider number or as text (see docs/types-lake.md).
func IcebergType(t schema.Type) (iceberg.Type, error) {
	switch t.Kind {
	case schema.KindBool:
		return iceberg.PrimitiveTypes.Bool, nil
	case schema.KindInt8, schema.KindInt16, schema.KindInt32:
		return iceberg.PrimitiveTypes.Int32, nil
	case schema.KindInt64, schema.KindTime:
		// Time is microseconds: MySQL TIME is a signed duration up to
		// 838 hours, which Iceberg's time-of-day type cannot hold.
		return iceberg.PrimitiveTypes.Int64, nil
	case schema.KindUint64:
		return uint64Decimal, nil
	case schema.KindBit:
		if t.Precision > 0 && t.Precision < 64 {
			return iceberg.PrimitiveTypes.Int64, nil
		}
		return uint64Decimal, nil
	case schema.KindFloat32:
		return iceberg.PrimitiveTypes.Float32, nil
	case schema.KindFloat64:
		return iceberg.PrimitiveTypes.Float64, nil
	case schema.KindDecimal:
		if t.Precision >= 1 && t.Precision <= maxDecimalPrecision && t.Scale >= 0 && t.Scale <= t.Precision {
			return iceberg.DecimalTypeOf(t.Precision, t.Scale), nil
		}
		// Wider than Iceberg's decimal, or a Postgres numeric without
		// declared precision: the canonical decimal text.
		return iceberg.PrimitiveTypes.String, nil
	case schema.KindString, schema.KindJSON, schema.KindEnum, schema.KindSet,
		schema.KindTimeTZ, schema.KindInet, schema.KindMACAddr, schema.KindVarBit,
		schema.KindInterval, schema.KindArray, schema.KindMap:
		return iceberg.PrimitiveTypes.String, nil
	case schema.KindBytes, schema.KindGeometry:
		return iceberg.PrimitiveTypes.Binary, nil
	case schema.KindDate:
		return iceberg.PrimitiveTypes.Date, nil
	case schema.KindTimestamp:
		return iceberg.PrimitiveTypes.Timestamp, nil
	case schema.KindTimestampTZ:
		return iceberg.PrimitiveTypes.TimestampTz, nil
	case schema.KindUUID:
		return iceberg.PrimitiveTypes.UUID, nil
	}
	return nil, fmt.Errorf("no lake type for column type %s", t)
}

// NewSchema returns the Iceberg schema of a new lake table for t: its
// columns in order with ids from 1, NOT NULL columns required, the key
// columns as identifier fields, then the metadata columns.
func NewSchema(t *schema.Table) (*iceberg.Schema, error) {
	fields := make([]iceberg.NestedField, 0, len(t.Columns)+len(metaColumns))
	for i, c := range t.Columns {
		typ, err := IcebergType(c.Type)
		if err != nil {
			return nil, fmt.Errorf("table %s column %s: %w", t.ID, c.Name, err)
		}
		fields = append(fields, iceberg.NestedField{
			ID: i + 1, Name: c.Name, Type: typ, Required: !c.Nullable, Doc: c.Type.Native,
		})
	}
	for _, m := range metaColumns {
		m.ID = len(fields) + 1
		fields = append(fields, m)
	}
	var ids []int
	for _, i := range t.KeyIndex {
		ids = append(ids, i+1)
		fields[i].Required = true
	}
	return iceberg.NewSchemaWithIdentifiers(0, ids, fields...), nil
}

// NewSpec returns the partition spec for cfg: a day (or hour, month)
// transform of cfg.PartitionColumn, or unpartitioned when it is empty.
func NewSpec(sc *iceberg.Schema, t *schema.Table, cfg lake.TableConfig) (iceberg.PartitionSpec, error) {
	if cfg.PartitionColumn == "" {
		return *iceberg.UnpartitionedSpec, nil
	}
	i := t.Index(cfg.PartitionColumn)
	if i < 0 {
		return iceberg.PartitionSpec{}, fmt.Errorf("table %s: partition column %q is not a column", t.ID, cfg.PartitionColumn)
	}
	switch k := t.Columns[i].Type.Kind; k {
	case schema.KindDate, schema.KindTimestamp, schema.KindTimestampTZ:
	default:
		return iceberg.PartitionSpec{}, fmt.Errorf("table %s: partition column %s is %s; want a date or timestamp column", t.ID, cfg.PartitionColumn, k)
	}
	tr, name, err := transform(cfg.Granularity)
	if err != nil {
		return iceberg.PartitionSpec{}, fmt.Errorf("table %s: %w", t.ID, err)
	}
	f, ok := sc.FindFieldByName(cfg.PartitionColumn)
	if !ok {
		return iceberg.PartitionSpec{}, fmt.Errorf("table %s: partition column %s missing from the lake schema", t.ID, cfg.PartitionColumn)
	}
	id := iceberg.PartitionDataIDStart
	return iceberg.NewPartitionSpecOpts(iceberg.AddPartitionFieldBySourceID(f.ID, cfg.PartitionColumn+"_"+name, tr, sc, &id))
}

func transform(granularity string) (iceberg.Transform, string, error) {
	switch granularity {
	case "", "day":
		return iceberg.DayTransform{}, "day", nil
	case "hour":
		return iceberg.HourTransform{}, "hour", nil
	case "month":
		return iceberg.MonthTransform{}, "month", nil
	}
	return nil, "", fmt.Errorf("partition granularity %q: want day, hour or month", granularity)
}
