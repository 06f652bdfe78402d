// js-yaml 4 ships no type declarations; the one function the verl reader uses (Hydra's config.yaml).
declare module 'js-yaml' {
  export function load(text: string, options?: { filename?: string }): unknown;
}
