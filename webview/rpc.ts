/** Request/reply with the host over postMessage: each request carries an id that its response echoes. */
import type { HostToWebviewMessage, RequestMethod, WebviewRequests, WebviewState, WebviewToHostMessage } from '../src/protocol/webview';

interface VsCodeApi {
  postMessage(message: WebviewToHostMessage): void;
  getState(): WebviewState | undefined;
  setState(state: WebviewState): void;
}

declare function acquireVsCodeApi(): VsCodeApi;

export const vscode = acquireVsCodeApi();

let nextId = 1;
const pending = new Map<number, { resolve: (value: unknown) => void; reject: (err: Error) => void }>();

export function request<M extends RequestMethod>(method: M, params: WebviewRequests[M]['params']): Promise<WebviewRequests[M]['result']> {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
    vscode.postMessage({ type: 'request', id, method, params } as WebviewToHostMessage);
  });
}

/** Routes responses to their requests; every other message goes to `onPush`. */
export function listen(onPush: (message: Exclude<HostToWebviewMessage, { type: 'response' }>) => void): void {
  window.addEventListener('message', (event: MessageEvent<HostToWebviewMessage>) => {
    const message = event.data;
    if (message.type !== 'response') {
      onPush(message);
      return;
    }
    const waiter = pending.get(message.id);
    if (!waiter) return;
    pending.delete(message.id);
    if (message.error !== undefined) waiter.reject(new Error(message.error));
    else waiter.resolve(message.result);
  });
}
