// Peer benchmark: upstream Walrus RedStuff (RS2) encoder compiled to WebAssembly,
// npm package @mysten/walrus-wasm (what the TypeScript SDK runs).
//
// Usage: node encode_bench.mjs --n-shards N --size BYTES [--reps K] [--decode] [--seed S]
//
// Blob content (reproducible from Python): the first SIZE bytes of
//   blake2b512(seed || u64_le(0)) || blake2b512(seed || u64_le(1)) || ...
// with seed = UTF-8 "bench" by default.
//
// Timed call: BlobEncoder.encode(data, primaryBufs, secondaryBufs), i.e. RS2
// encode_with_metadata + BCS-serialising every sliver into pre-allocated JS
// buffers + returning the metadata (all 2n sliver-pair hashes) to JS. Buffers are
// allocated once, outside the timed region. With reps > 1 the first call is a
// warm-up and is discarded. *_s = minimum, *_median_s = median; MB = MiB (2^20).
//
// Output: one JSON line on stdout.

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { BlobEncoder } from '@mysten/walrus-wasm';
import { seededBytes } from '../seeded_bytes.mjs';

const require = createRequire(import.meta.url);
const VERSION = JSON.parse(
	readFileSync(join(dirname(require.resolve('@mysten/walrus-wasm')), 'package.json'), 'utf8'),
).version;

const { values: args } = parseArgs({
	options: {
		'n-shards': { type: 'string' },
		size: { type: 'string' },
		reps: { type: 'string', default: '1' },
		decode: { type: 'boolean', default: false },
		seed: { type: 'string', default: 'bench' },
	},
	strict: true,
});
const nShards = Number(args['n-shards']);
const size = Number(args.size);
const reps = Math.max(1, Number(args.reps));
if (!Number.isInteger(nShards) || nShards < 1 || !Number.isInteger(size) || size < 0) {
	console.error('usage: node encode_bench.mjs --n-shards N --size BYTES [--reps K] [--decode] [--seed S]');
	process.exit(2);
}

// RS2 sliver sizes, as in the TS SDK: f = floor((n-1)/3), primary source symbols
// n-2f, secondary n-f; symbol size rounded up to even. BCS SliverData =
// uleb128(len) || symbols || u16 symbol_size || u16 index.
function bcsBufferSizes(blobSize, n) {
	const f = Math.floor((n - 1) / 3);
	const kPrimary = n - 2 * f;
	const kSecondary = n - f;
	let symbolSize = Math.floor((Math.max(blobSize, 1) - 1) / (kPrimary * kSecondary)) + 1;
	if (symbolSize % 2 === 1) symbolSize += 1;
	const bcs = (len) => {
		let uleb = 1;
		for (let v = len >>> 7; v !== 0; v >>>= 7) uleb++;
		return uleb + len + 4;
	};
	return { kPrimary, primary: bcs(kSecondary * symbolSize), secondary: bcs(kPrimary * symbolSize) };
}

function timeIt(fn) {
	const times = [];
	for (let r = 0; r < reps; r++) {
		const t0 = process.hrtime.bigint();
		fn();
		times.push(Number(process.hrtime.bigint() - t0) / 1e9);
	}
	const kept = (reps > 1 ? times.slice(1) : times).sort((a, b) => a - b);
	const mid = kept.length >> 1;
	const median = kept.length % 2 ? kept[mid] : (kept[mid - 1] + kept[mid]) / 2;
	return { min: kept[0], median };
}

const MiB = 1 << 20;
const round = (x, d = 6) => Number(x.toFixed(d));

const data = seededBytes(args.seed, size);
const encoder = new BlobEncoder(nShards);
const sizes = bcsBufferSizes(size, nShards);
const primaryBufs = Array.from({ length: nShards }, () => new Uint8Array(sizes.primary));
const secondaryBufs = Array.from({ length: nShards }, () => new Uint8Array(sizes.secondary));

let metadata;
const enc = timeIt(() => {
	[metadata] = encoder.encode(data, primaryBufs, secondaryBufs);
});
const blobIdBytes = Uint8Array.from(metadata.blob_id);

const result = {
	impl: 'walrus-wasm',
	version: VERSION,
	n_shards: nShards,
	size,
	reps,
	encode_s: round(enc.min),
	encode_median_s: round(enc.median),
	encode_mb_s: round(size / MiB / enc.min, 3),
	blob_id: Buffer.from(blobIdBytes).toString('base64url'),
};

if (args.decode) {
	// Decode from the last n-2f primary slivers (the non-systematic ones where n >= 4f, so the
	// decoder must really decode), the same subset the Python benchmark uses.
	const subset = primaryBufs.slice(nShards - sizes.kPrimary);
	const out = new Uint8Array(size);
	const dec = timeIt(() => {
		encoder.decode(metadata.blob_id, BigInt(size), subset, out);
	});
	if (Buffer.compare(Buffer.from(out.buffer, out.byteOffset, out.byteLength), Buffer.from(data.buffer)) !== 0) {
		console.error('decode mismatch: decoded blob differs from input');
		process.exit(1);
	}
	Object.assign(result, {
		decode_s: round(dec.min),
		decode_median_s: round(dec.median),
		decode_mb_s: round(size / MiB / dec.min, 3),
	});
}

result.peak_rss_mb = round(process.resourceUsage().maxRSS / 1024, 1);
console.log(JSON.stringify(result));
