// The `#fs` import's browser variant: a page cannot write a folder, so savePretrained fails with what to use.

const message =
  'savePretrained(dir) writes files and needs Node.js; in a browser, take the weights as bytes with ' +
  'serializeSafetensors(model.stateDict()) and config.json with JSON.stringify(model.config.toDict())';

/** Always rejects: there is no file system in a browser. */
export function makeDir(_dir: string): Promise<void> {
  return Promise.reject(new Error(message));
}
/** Always rejects: there is no file system in a browser. */
export function writeJson(_path: string, _value: unknown): Promise<void> {
  return Promise.reject(new Error(message));
}
