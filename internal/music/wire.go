package music

import "encoding/binary"

// wireMagic is the first byte of the Confluent wire format.
const wireMagic = 0x00

// WireHeaderLen is the length of the Confluent wire header: the magic byte
// and the big-endian schema id.
const WireHeaderLen = 5

// AppendWire appends avroPayload to dst in the Confluent wire format: a zero
// magic byte, the 4-byte big-endian schema id, then the Avro binary payload.
func AppendWire(dst []byte, schemaID int32, avroPayload []byte) []byte {
	dst = append(dst, wireMagic)
	dst = binary.BigEndian.AppendUint32(dst, uint32(schemaID))
	return append(dst, avroPayload...)
}
