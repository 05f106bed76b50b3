import { adapterKey, canonicalJson } from '../../src/store/canonical-hash.js';

const base = { tenant: 'local', modelId: 'm', modelSha256: 'a'.repeat(64), options: { dtype: 'float32', format: 'peft' } };

describe('canonical hashing', () => {
  it('ignores key order', () => {
    expect(canonicalJson({ b: 1, a: { d: 2, c: 3 } })).toBe('{"a":{"c":3,"d":2},"b":1}');
    expect(adapterKey({ ...base, input: { context: 'x', question: 'y' } })).toBe(adapterKey({ ...base, input: { question: 'y', context: 'x' } }));
    expect(adapterKey({ ...base, options: { format: 'peft', dtype: 'float32' }, input: { context: 'x' } })).toBe(adapterKey({ ...base, input: { context: 'x' } }));
  });

  it('treats Unicode normalisation forms of the same text as the same input', () => {
    const nfc = 'Café Zoë';
    const nfd = nfc.normalize('NFD');
    expect(nfd).not.toBe(nfc);
    expect(adapterKey({ ...base, input: { context: nfd } })).toBe(adapterKey({ ...base, input: { context: nfc } }));
  });

  it('separates tenants, models, model versions, inputs and options', () => {
    const k = adapterKey({ ...base, input: { context: 'x' } });
    expect(adapterKey({ ...base, tenant: 'other', input: { context: 'x' } })).not.toBe(k);
    expect(adapterKey({ ...base, modelId: 'n', input: { context: 'x' } })).not.toBe(k);
    expect(adapterKey({ ...base, modelSha256: 'b'.repeat(64), input: { context: 'x' } })).not.toBe(k);
    expect(adapterKey({ ...base, input: { context: 'x ' } })).not.toBe(k);
    expect(adapterKey({ ...base, options: { dtype: 'float16', format: 'peft' }, input: { context: 'x' } })).not.toBe(k);
    expect(k).toMatch(/^[0-9a-f]{40}$/);
  });
});
