// Reads one Iceberg table with icebird and prints its live rows as JSON:
// {"rows": [{column: value, ...}, ...]}. Values are printed as text where
// JavaScript would lose them: longs as decimal strings, decimals with their
// scale, dates as YYYY-MM-DD, timestamps as ISO 8601 (icebird's Parquet
// reader keeps milliseconds), binary as base64.
//
// Usage: node read.mjs /path/to/metadata/00003-....metadata.json
//
// The table's files are local (file: URLs), which icebird's fetch() cannot
// read: a fetch wrapper serves them, honours Range requests, and rewrites
// Avro manifests with codec null, because icebird's inflater rejects the
// deflate blocks Go's compress/flate writes.
import { readFile } from 'node:fs/promises'
import { inflateRawSync } from 'node:zlib'
import { icebergRead } from 'icebird'

const realFetch = globalThis.fetch
globalThis.fetch = async (url, init) => {
  url = String(url)
  if (!url.startsWith('file://')) return realFetch(url, init)
  let data = await readFile(new URL(url))
  if (url.endsWith('.avro')) data = nullCodec(data)
  const range = init?.headers ? new Headers(init.headers).get('Range') : null
  const m = range && /^bytes=(\d+)-(\d*)$/.exec(range)
  if (m) {
    const start = Number(m[1])
    const end = m[2] === '' ? data.length : Number(m[2]) + 1
    return new Response(data.subarray(start, end), { status: 206 })
  }
  return new Response(data, { status: 200 })
}

// nullCodec re-encodes an Avro object container file with codec null.
function nullCodec(buf) {
  let off = 0
  const readLong = () => {
    let n = 0n, shift = 0n, b
    do {
      b = buf[off++]
      n |= BigInt(b & 0x7f) << shift
      shift += 7n
    } while (b & 0x80)
    return Number((n >> 1n) ^ -(n & 1n))
  }
  const readBytes = () => {
    const len = readLong()
    const out = buf.subarray(off, off + len)
    off += len
    return out
  }
  if (buf.subarray(0, 4).toString('latin1') !== 'Obj\x01') throw new Error('not an Avro container')
  off = 4
  const meta = []
  for (;;) {
    let count = readLong()
    if (count === 0) break
    if (count < 0) { count = -count; readLong() }
    for (let i = 0; i < count; i++) meta.push([readBytes().toString('utf8'), Buffer.from(readBytes())])
  }
  const sync = buf.subarray(off, off + 16)
  off += 16
  const codec = meta.find(([k]) => k === 'avro.codec')?.[1].toString() ?? 'null'
  const out = []
  const writeLong = v => {
    let n = BigInt(v) >= 0n ? BigInt(v) << 1n : ((-BigInt(v)) << 1n) - 1n
    const bytes = []
    do {
      let b = Number(n & 0x7fn)
      n >>= 7n
      if (n > 0n) b |= 0x80
      bytes.push(b)
    } while (n > 0n)
    out.push(Buffer.from(bytes))
  }
  const writeBytes = b => { writeLong(b.length); out.push(b) }
  out.push(Buffer.from('Obj\x01', 'latin1'))
  writeLong(meta.length)
  for (const [k, v] of meta) {
    writeBytes(Buffer.from(k, 'utf8'))
    writeBytes(k === 'avro.codec' ? Buffer.from('null') : v)
  }
  writeLong(0)
  out.push(sync)
  while (off < buf.length) {
    const count = readLong()
    let block = readBytes()
    off += 16
    if (codec === 'deflate') block = inflateRawSync(block)
    else if (codec !== 'null') throw new Error(`unsupported avro codec ${codec}`)
    writeLong(count)
    writeBytes(block)
    out.push(sync)
  }
  return Buffer.concat(out)
}

function text(type, v) {
  if (v === null || v === undefined) return null
  if (typeof v === 'bigint' || type === 'int' || type === 'long') return String(v)
  if (v instanceof Date) return type === 'date' ? v.toISOString().slice(0, 10) : v.toISOString()
  const dec = typeof type === 'string' && /^decimal\(\d+,\s*(\d+)\)$/.exec(type)
  if (dec) return Number(v).toFixed(Number(dec[1]))
  if (v instanceof Uint8Array) return Buffer.from(v).toString('base64')
  return v
}

const metadataPath = process.argv[2]
const metadata = JSON.parse(await readFile(metadataPath, 'utf8'))
const schema = metadata.schemas.find(s => s['schema-id'] === metadata['current-schema-id'])
let rows = []
if (metadata['current-snapshot-id'] !== undefined && metadata['current-snapshot-id'] !== -1) {
  try {
    rows = await icebergRead({ tableUrl: metadata.location, metadata })
  } catch (err) {
    if (!String(err.message).includes('No data manifest files')) throw err
  }
}
const out = rows.map(row => {
  const r = {}
  for (const f of schema.fields) r[f.name] = text(f.type, row[f.name])
  return r
})
process.stdout.write(JSON.stringify({ rows: out }))
