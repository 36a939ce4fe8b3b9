// The one function of js-yaml (pinned in ../package.json) this test uses.
declare module "js-yaml" {
  /** load parses one YAML document. */
  export function load(input: string): unknown;
}
