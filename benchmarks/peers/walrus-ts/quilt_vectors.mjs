// Quilt known answers from upstream's TypeScript SDK (@mysten/walrus, pinned in package.json).
//
// Usage: sh setup.sh && node quilt_vectors.mjs > ../../../tests/data/quilt-vectors.json
//
// For each case the SDK's own `encodeQuilt` lays out the patches (QuiltV1), the quilt bytes go
// through the SDK's WebAssembly blob encoder (@mysten/walrus-wasm, walrus-core compiled to wasm)
// for the blob ID exactly as `writeQuilt` stores them, and the SDK's `encodeQuiltPatchId` names
// every patch. Patch contents are reproducible from Python: the first `length` bytes of
//   blake2b512(seed || u64_le(0)) || blake2b512(seed || u64_le(1)) || ...
// (the same rule as the RS2 conformance vectors). Output: one JSON document on stdout.

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { BlobEncoder } from '@mysten/walrus-wasm';
import { encodeQuilt } from '@mysten/walrus';
import { seededBytes } from '../seeded_bytes.mjs';
// Not in the package's exports map; imported by file so the IDs come from the SDK's own code.
import { encodeQuiltPatchId } from './node_modules/@mysten/walrus/dist/utils/quilts.mjs';

const require = createRequire(import.meta.url);
const versionOf = (name) =>
	JSON.parse(readFileSync(join(dirname(require.resolve(name)), 'package.json'), 'utf8')).version;
const sdkPackage = JSON.parse(
	readFileSync(new URL('./node_modules/@mysten/walrus/package.json', import.meta.url), 'utf8'),
);

const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');

// A small deterministic generator for sizes, so that the cases are fixed without listing them.
function lcg(seed) {
	let state = seed >>> 0;
	return () => {
		state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
		return state / 2 ** 32;
	};
}

function sourceSymbols(n) {
	const f = Math.floor((n - 1) / 3);
	return { rows: n - 2 * f, cols: n - f };
}

// The bytes of columns [0, count) in column order (a column is R symbols, top to bottom).
function columnBytes(quilt, n, symbolSize, count) {
	const { rows, cols } = sourceSymbols(n);
	const out = new Uint8Array(count * rows * symbolSize);
	let k = 0;
	for (let c = 0; c < count; c++) {
		for (let r = 0; r < rows; r++) {
			const start = (r * cols + c) * symbolSize;
			out.set(quilt.subarray(start, start + symbolSize), k);
			k += symbolSize;
		}
	}
	return out;
}

function blob(identifier, length, tags, seed) {
	return { identifier, length, tags: tags ?? {}, seed: seed ?? `quilt/${identifier}/${length}` };
}

function cases() {
	const all = [];
	const add = (name, nShards, blobs) => all.push({ name, n_shards: nShards, blobs });

	// One patch, sizes around column boundaries at n = 4 (R = 2, C = 3).
	for (const len of [0, 1, 2, 13, 14, 15, 100, 1000]) {
		add(`one-patch-n4-${len}B`, 4, [blob('x', len)]);
	}
	add('one-patch-n10-empty', 10, [blob('empty.bin', 0)]);
	add('one-patch-n1000-tagged', 1000, [
		blob('hello.txt', 5000, { 'content-type': 'text/plain' }),
	]);
	add('no-patches-n4', 4, []);
	add('no-patches-n1000', 1000, []);

	// The cases of walrus-core's test_quilt_construct_quilt: identifiers, tags and sizes as there
	// (the contents follow the seed rule).
	add('upstream-case-0-n7', 7, [
		blob('test-blob-0', 11, { tag1: 'value1' }),
		blob('test-blob-1', 5, { tag1: 'value1' }),
		blob('test-blob-2', 8, { tag1: 'value1' }),
	]);
	add('upstream-case-0-random-order-n7', 7, [
		blob('test-blob-0', 8, { tag1: 'value1' }),
		blob('test-blob-1', 5),
		blob('test-blob-2', 11, { tag2: 'value2' }),
	]);
	add('upstream-case-1-n7', 7, [
		blob('test-blob-0', 11, { tag1: 'value1', tag2: 'value1' }),
		blob('test-blob-1', 11, { tag3: 'value3', tag2: 'value2' }),
		blob('test-blob-2', 8, { tag3: 'value1', tag2: 'value3' }),
	]);
	add('upstream-case-1-random-order-n7', 7, [
		blob('test-blob-0', 5),
		blob('short', 11),
		blob('test-blob-2', 8),
	]);
	add('upstream-case-2-n12', 12, [
		blob('test-blob-0', 2),
		blob('test-blob-1', 1024),
		blob('test-blob-2', 3),
	]);
	add('upstream-case-3-n7', 7, [blob('test-blob-0', 9)]);

	// Tag keys whose BCS order differs from string order ("b" sorts before "aa"), an empty key and
	// an empty value, and identifiers outside ASCII (given out of order).
	add('tags-and-unicode-n10', 10, [
		blob('日本語.md', 700, { b: '1', aa: '2', '': 'empty key', z: '' }),
		blob('émoji-😀.png', 33, { 'content-type': 'image/png' }),
		blob('a', 0, { k: 'v' }),
		blob('Zebra', 129),
	]);

	// Many patches with random sizes and some tags, at several shard counts.
	for (const [n, count, maxLen, seed] of [
		[10, 6, 3000, 1],
		[100, 60, 2000, 2],
		[100, 30, 40000, 3],
		[1000, 120, 5000, 4],
	]) {
		const rand = lcg(seed);
		const blobs = [];
		for (let i = 0; i < count; i++) {
			const len = i % 7 === 3 ? 0 : Math.floor(rand() * maxLen);
			const tags = i % 3 === 0 ? { index: String(i), kind: i % 2 ? 'odd' : 'even' } : {};
			blobs.push(blob(`file-${String(i).padStart(4, '0')}.dat`, len, tags));
		}
		blobs.reverse();
		add(`many-patches-n${n}-${count}`, n, blobs);
	}

	// The most patches a quilt holds: C − 1 (one column at least for the index).
	for (const n of [4, 10, 100, 1000]) {
		const max = sourceSymbols(n).cols - 1;
		const blobs = [];
		for (let i = 0; i < max; i++) {
			blobs.push(blob(`p${i}`, i % 5, i === 0 ? { first: 'yes' } : {}));
		}
		add(`max-patches-n${n}-${max}`, n, blobs);
	}

	// An index spanning several columns: long identifiers, small contents.
	add('long-identifiers-n10', 10, [
		blob('L'.repeat(300) + '1', 3),
		blob('L'.repeat(300) + '2', 4, { t: 'x'.repeat(200) }),
		blob('L'.repeat(300) + '3', 5),
		blob('L'.repeat(300) + '4', 6),
	]);
	return all;
}

function generate(c) {
	const inputs = c.blobs.map((b) => ({ ...b, contents: seededBytes(b.seed, b.length) }));
	const { quilt, index } = encodeQuilt({
		blobs: inputs.map((b) => ({ identifier: b.identifier, contents: b.contents, tags: b.tags })),
		numShards: c.n_shards,
	});
	const { rows, cols } = sourceSymbols(c.n_shards);
	const symbolSize = quilt.length / (rows * cols);
	const [blobIdBytes] = new BlobEncoder(c.n_shards).compute_metadata(quilt);
	const blobId = Buffer.from(Uint8Array.from(blobIdBytes)).toString('base64url');
	const indexColumns = index.patches.length ? index.patches[0].startIndex : 1;
	const head = columnBytes(quilt, c.n_shards, symbolSize, indexColumns);
	const indexLength = 5 + new DataView(head.buffer).getUint32(1, true);
	return {
		name: c.name,
		n_shards: c.n_shards,
		blobs: inputs.map((b) => ({
			identifier: b.identifier,
			tags: b.tags,
			seed: b.seed,
			length: b.length,
			data_sha256: sha256(b.contents),
		})),
		symbol_size: symbolSize,
		quilt_length: quilt.length,
		quilt_sha256: sha256(quilt),
		index_columns: indexColumns,
		index_bytes_hex: Buffer.from(head.subarray(0, indexLength)).toString('hex'),
		blob_id: blobId,
		patches: index.patches.map((p) => ({
			identifier: p.identifier,
			tags: p.tags,
			start_index: p.startIndex,
			end_index: p.endIndex,
			patch_id: encodeQuiltPatchId({
				quiltId: blobId,
				patchId: { version: 1, startIndex: p.startIndex, endIndex: p.endIndex },
			}),
		})),
	};
}

const document = {
	generator: 'benchmarks/peers/walrus-ts/quilt_vectors.mjs',
	reference: {
		'@mysten/walrus': sdkPackage.version,
		'@mysten/walrus-wasm': versionOf('@mysten/walrus-wasm'),
	},
	content_rule: 'first length bytes of blake2b512(seed || u64_le(0)) || blake2b512(seed || u64_le(1)) || ...',
	cases: cases().map(generate),
};
// One line per blob and per patch: readable diffs without a megabyte of indentation.
function format(value, indent = '') {
	if (Array.isArray(value) && value.length && typeof value[0] === 'object') {
		const inner = indent + '  ';
		const item = (v) => (Object.values(v).some(Array.isArray) ? format(v, inner) : JSON.stringify(v));
		return `[\n${value.map((v) => inner + item(v)).join(',\n')}\n${indent}]`;
	}
	if (value && typeof value === 'object' && !Array.isArray(value)) {
		const inner = indent + '  ';
		const fields = Object.entries(value).map(
			([k, v]) => `${inner}${JSON.stringify(k)}: ${format(v, inner)}`,
		);
		return `{\n${fields.join(',\n')}\n${indent}}`;
	}
	return JSON.stringify(value);
}
process.stdout.write(format(document) + '\n');
