// A TypeScript program written against the package as a user installs it (`import … from
// 'pldr-web'`): tests/package.test.mjs type-checks it with `tsc --noEmit` against the .d.ts files
// in the packed tarball. Each `@ts-expect-error` marks a misuse the types must refuse: if the
// declarations decayed to `any`, tsc would report the directive as unused and the check fails.
import { AbortError, EngineError, ERROR_CODES, LoadError, PLDR, PldrError, type Engine } from 'pldr-web';
import { PldrWorker, type GenerateResult, type ModelInfo } from 'pldr-web/worker';
import { PldrChat } from 'pldr-web/pldr-chat';

export async function api(folder: string): Promise<string> {
  const engine: Engine = await PLDR.load(folder, {
    gcache: 'first', quant: 'q8', contextLength: 512,
    onProgress: (p) => console.log(p.loaded, p.total ?? '?'),
  });
  // @ts-expect-error not a G-cache mode
  await PLDR.load(folder, { gcache: 'sometimes' });

  let text = '';
  const run = engine.generate('The Python language is', { maxTokens: 16, temperature: 0 });
  for await (const piece of run) text += piece.text + String(piece.id);
  const done = await run.result;
  const reason: 'eos' | 'length' | 'stop' | 'abort' = done.finishReason;
  const counted: number = done.promptTokens + done.completionTokens;
  // @ts-expect-error maxTokens is a number
  engine.generate('x', { maxTokens: '16' });
  engine.generate({ ids: [12, 345, 6] }).abort();

  const reply = engine.respond([{ role: 'user', content: 'Hello!' }], { topK: 40, stop: ['\n'] });
  const { text: answer } = await reply.result;
  // @ts-expect-error not a role
  engine.respond([{ role: 'robot', content: 'beep' }]);

  const completion = await engine.chat.completions.create({ messages: [{ role: 'user', content: 'Hi' }], max_tokens: 32 });
  const content: string = completion.choices[0].message.content;
  const total: number = completion.usage.total_tokens;
  const stream = await engine.chat.completions.create({ messages: [{ role: 'user', content: 'Hi' }], stream: true });
  for await (const chunk of stream) text += chunk.choices[0].delta.content ?? '';
  const whole = await stream.result;
  // @ts-expect-error a completion is not a stream
  for await (const chunk of completion) text += chunk;

  const stats = engine.stats();
  const rate: number | null = stats.decodeTokensPerSec;
  const ids: number[] = engine.encode('hello');
  const back: string = engine.decode(ids);
  engine.reset();
  engine.free();
  return [text, reason, counted, answer, content, total, whole.id, rate, back].join(' ');
}

export function errors(err: unknown): string {
  if (err instanceof LoadError) return `${err.code} in ${err.file ?? '?'} (HTTP ${err.status ?? '-'})`;
  if (err instanceof EngineError) return `${err.code} from C ${err.statusName ?? '-'}`;
  if (err instanceof AbortError) return err.code;
  if (err instanceof PldrError) return `${err.code}: ${ERROR_CODES.E_OPTION.length}`;
  return String(err);
}

export async function worker(url: URL): Promise<string> {
  const client = new PldrWorker();
  const info: ModelInfo = await client.load(url, { onProgress: (p) => console.log(p.file, p.fromCache), quant: 'q4' });
  const run = client.respond([{ role: 'user', content: 'Hi' }], { temperature: 0, maxTokens: 8 });
  let text = '';
  for await (const piece of run) text += piece.text + piece.tokens;
  const result: GenerateResult = await run.result;
  const direct = await client.generate('Once upon a time', { maxTokens: 8 }).result;
  // @ts-expect-error the worker cannot take a function
  client.generate('x', { onLogits: () => {} });
  await client.reset();
  client.terminate();
  return `${info.name} ${info.contextLength} ${text} ${result.finishReason} ${direct.text}`;
}

export async function element(): Promise<string> {
  const box = document.createElement('pldr-chat') as PldrChat;
  box.setAttribute('model', 'https://huggingface.co/fromthesky/PLDR-LLM-v51-110M-1');
  document.body.append(box);
  const reply: string = await box.ask('Hello!');
  box.stop();
  await box.reset();
  // @ts-expect-error ask() takes text
  await box.ask(42);
  return reply;
}
