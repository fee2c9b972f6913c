export interface PreprocessOptions {
  file: string;
  includeDirs?: readonly string[];
  defines?: readonly string[];
  readFile?: (path: string) => string;
}
export function preprocess(text: string, _opts: PreprocessOptions): string {
  return text;
}
