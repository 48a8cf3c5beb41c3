/** "usingDirect.healthy" from a chart's state value { usingDirect: 'healthy' }. */
export function stateString(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object') {
    const [key, inner] = Object.entries(value)[0] ?? [];
    return key === undefined ? '' : `${key}.${stateString(inner)}`;
  }
  return '';
}
