// Type declarations for @taskhub/client (taskhub.js). Wire contract: PROTOCOL.md.

// ---------------------------------------------------------------- wire types

export type TaskStatus = 'queued' | 'processing' | 'completed' | 'failed' | 'cancelled';

export interface ErrorBody {
  code: string;
  message: string;
}

export interface TaskResult {
  videoUrl: string;
  thumbnailUrl: string | null;
  duration: number | null;
  resolution: string | null;
}

/** Task JSON: REST `data` and WS `subscribed.task`. */
export interface Task {
  videoId: string;
  externalVideoId: string | null;
  userId: string;
  status: TaskStatus;
  progress: number;
  seq: number;
  prompt: string;
  model: string;
  seconds: number | string;
  size: string;
  quality: string | null;
  kind: 'textToVideo' | 'imageToVideo';
  referenceImageUrl: string | null;
  message: string | null;
  error: ErrorBody | null;
  result: TaskResult | null;
  creditsCharged: number;
  creditsRefunded: number;
  retryOf: string | null;
  createdAt: string;
  updatedAt: string;
  completedAt: string | null;
}

/** Every frame, both ways. */
export interface Frame<P = any> {
  type: string;
  /** Unix milliseconds */
  timestamp?: number;
  payload: P;
  requestId?: string;
}

/** Fields every task event payload has. */
export interface TaskEventPayload {
  videoId: string;
  externalVideoId: string | null;
  status: TaskStatus;
  progress: number;
  seq: number;
  /** taskCreated */
  prompt?: string;
  model?: string;
  /** taskProgress */
  message?: string | null;
  /** taskCompleted */
  result?: TaskResult;
  /** taskFailed */
  error?: ErrorBody;
  /** taskFailed, taskCancelled */
  creditsRefunded?: number;
}

export type TaskEventType = 'taskCreated' | 'taskProgress' | 'taskCompleted' | 'taskFailed' | 'taskCancelled';
export type TaskFrame = Frame<TaskEventPayload> & { type: TaskEventType };

export interface ConnectedPayload {
  connectionId: string;
  serverVersion: string;
  capabilities: string[];
  heartbeatIntervalMs: number;
  authTimeoutMs: number;
  [limit: string]: unknown;
}

export interface AuthSuccessPayload {
  userId: string;
  username: string;
  sessionId: string;
  /** RFC 3339 string or Unix seconds/milliseconds; the client accepts each. */
  expiresAt: string | number;
}

export interface SubscribedTaskPayload {
  videoId: string;
  task: Task;
  replayed: number;
}

export interface SubscribedUserPayload {
  scope: 'user';
}

export type SubscribedFrame = Frame<SubscribedTaskPayload> & { type: 'subscribed' };

// ---------------------------------------------------------------- errors and helpers

export declare class TaskhubError extends Error {
  constructor(message: string, info?: { code?: string; status?: number; details?: unknown; frame?: Frame });
  /** camelCase code: a server code (`notFound`, `forbidden`, ...) or a client one (`timeout`, `disconnected`, `notConnected`, `closed`, `socketError`, `badFrame`, `tokenRefreshFailed`, `httpError`, `badResponse`). */
  code: string;
  /** HTTP status, for REST errors. */
  status?: number;
  details?: unknown;
  frame?: Frame;
  cause?: unknown;
}

export declare class Emitter {
  on(event: string, fn: (...args: any[]) => void): () => void;
  once(event: string, fn: (...args: any[]) => void): () => void;
  off(event: string, fn?: (...args: any[]) => void): void;
  emit(event: string, ...args: unknown[]): boolean;
}

export declare const TERMINAL_STATUSES: readonly TaskStatus[];
export declare const TASK_EVENT_TYPES: readonly TaskEventType[];
export declare function isTerminalStatus(status: string): boolean;
/** Full-jitter exponential backoff: uniform in [0, min(maxMs, initialMs * factor^attempt)). */
export declare function computeBackoff(
  attempt: number,
  opts?: { initialMs?: number; maxMs?: number; factor?: number },
  random?: () => number,
): number;
/** `expiresAt` (RFC 3339, Unix s or ms) to Unix ms, or null. */
export declare function parseExpiresAt(value: unknown): number | null;
/** `http(s)://host` -> `ws(s)://host/ws`; `ws(s)://` kept; none: the page's origin. */
export declare function toWebSocketUrl(url?: string): string;

// ---------------------------------------------------------------- WebSocket client

export type TokenSource = string | (() => string | null | Promise<string | null>);

export interface ReconnectOptions {
  /** First backoff cap, ms (default 500). */
  initialMs?: number;
  /** Largest backoff cap, ms (default 30000). */
  maxMs?: number;
  /** Growth per attempt (default 2). */
  factor?: number;
  /** Give up after this many consecutive failures (default Infinity). */
  maxAttempts?: number;
  /** A connection that stayed ready this long resets the backoff (default 5000). */
  resetAfterMs?: number;
}

export interface ClientOptions {
  /** `ws(s)://host/ws` or `http(s)://host`; default: this page's origin + `/ws`. */
  url?: string;
  /** WebSocket constructor; default `globalThis.WebSocket` (pass `ws` in Node 20). */
  WebSocket?: any;
  /** Access JWT, or a (possibly async) getter called on every (re)connect. */
  token?: TokenSource;
  /** Same as a function `token`. */
  getToken?: () => string | null | Promise<string | null>;
  /** Returns a fresh access token; called before expiry and once after close 4001. Default: the token getter. */
  onTokenRefresh?: () => string | Promise<string>;
  /** Refresh this long before expiry (default 60000; never earlier than half the remaining lifetime). */
  refreshBeforeMs?: number;
  /** Request reply timeout (default 10000). */
  requestTimeoutMs?: number;
  /** Auto-reconnect (default true). */
  reconnect?: boolean | ReconnectOptions;
  /** Random source in [0,1) used for jitter. */
  random?: () => number;
}

export type ClientState = 'idle' | 'connecting' | 'authenticating' | 'ready' | 'reconnecting' | 'closed';

export interface CloseInfo {
  code: number;
  reason: string;
  willReconnect: boolean;
  delayMs?: number;
}

export interface ReconnectingInfo {
  attempt: number;
  delayMs: number;
  code: number;
  reason: string;
}

export interface ReadyInfo {
  session: AuthSuccessPayload | null;
  connection: ConnectedPayload | null;
  reconnected: boolean;
}

export type TaskHandler = (frame: TaskFrame | SubscribedFrame) => void;
export type UserHandler = (frame: TaskFrame) => void;

export declare class TaskhubClient extends Emitter {
  constructor(options?: ClientOptions);
  readonly state: ClientState;
  readonly socket: any;
  readonly url: string;
  /** Payload of the last `connected` frame. */
  connection: ConnectedPayload | null;
  /** Payload of the last `authSuccess` frame. */
  session: AuthSuccessPayload | null;

  connect(): Promise<void>;
  close(code?: number, reason?: string): void;
  request<T = any>(type: string, payload?: object, opts?: { timeoutMs?: number }): Promise<T>;
  ping(): Promise<{ serverTime: number }>;
  auth(token?: string): Promise<AuthSuccessPayload>;
  subscribeTask(videoId: string, handler?: TaskHandler, opts?: { sinceSeq?: number }): Promise<SubscribedTaskPayload>;
  unsubscribeTask(videoId: string, handler?: TaskHandler): Promise<void>;
  subscribeUser(handler?: UserHandler): Promise<SubscribedUserPayload>;
  unsubscribeUser(handler?: UserHandler): Promise<void>;
  lastSeq(videoId: string): number | undefined;

  on(event: 'state', fn: (state: ClientState, previous: ClientState) => void): () => void;
  on(event: 'open', fn: (info: { url: string }) => void): () => void;
  on(event: 'ready', fn: (info: ReadyInfo) => void): () => void;
  on(event: 'close', fn: (info: CloseInfo) => void): () => void;
  on(event: 'reconnecting', fn: (info: ReconnectingInfo) => void): () => void;
  on(event: 'authFailed' | 'error', fn: (err: TaskhubError) => void): () => void;
  on(event: 'listenerError', fn: (err: unknown, event: string) => void): () => void;
  on(event: 'frame' | 'duplicate', fn: (frame: Frame) => void): () => void;
  on(event: TaskEventType, fn: (frame: TaskFrame) => void): () => void;
  on(event: 'connected', fn: (frame: Frame<ConnectedPayload>) => void): () => void;
  on(event: 'authSuccess', fn: (frame: Frame<AuthSuccessPayload>) => void): () => void;
  on(event: 'authError', fn: (frame: Frame<ErrorBody>) => void): () => void;
  on(event: 'subscribed', fn: (frame: Frame<SubscribedTaskPayload | SubscribedUserPayload>) => void): () => void;
  on(event: 'pong', fn: (frame: Frame<{ serverTime: number }>) => void): () => void;
  on(event: 'reconnect', fn: (frame: Frame<{ reason: string; retryAfterMs: number }>) => void): () => void;
  on(event: string, fn: (...args: any[]) => void): () => void;
}

// ---------------------------------------------------------------- REST helper

export interface ApiOptions {
  /** e.g. `http://127.0.0.1:8080`; default '' (same origin). */
  baseUrl?: string;
  token?: string | null;
  refreshToken?: string | null;
  apiKey?: string | null;
  fetch?: typeof fetch;
}

export interface User {
  id: string;
  username: string;
  email: string;
  role: string;
  createdAt: string;
  displayName?: string | null;
  avatarUrl?: string | null;
  /** `en`, `zh-CN`, `zh-TW`, `ja` or `ko`. */
  language?: string;
  /** `me()` only. */
  showInRecent?: boolean;
  /** `me()` only: credits available now. */
  credits?: number;
  /** `me()` only: `free`, `basic` or `pro`. */
  plan?: string;
}

export interface Profile {
  username: string;
  displayName: string | null;
  avatarUrl: string | null;
  language: 'en' | 'zh-CN' | 'zh-TW' | 'ja' | 'ko';
  showInRecent: boolean;
  updatedAt: string;
}

/** Absent fields stay; `null` clears displayName or avatarUrl. */
export interface ProfilePatch {
  displayName?: string | null;
  avatarUrl?: string | null;
  language?: 'en' | 'zh-CN' | 'zh-TW' | 'ja' | 'ko';
  showInRecent?: boolean;
}

export interface TokenResponse {
  accessToken: string;
  refreshToken: string;
  tokenType: 'bearer';
  /** seconds */
  expiresIn: number;
  user: User;
}

export interface CreateTaskParams {
  prompt: string;
  model?: string;
  seconds?: number | string;
  size?: string;
  quality?: string;
  webhookUrl?: string;
  referenceImageUrl?: string;
  /** Sent as the multipart `image` part (image-to-video). */
  image?: Blob;
}

export interface Page<T> {
  items: T[];
  total: number;
  page: number;
  pageSize: number;
}

export interface RawResponse {
  status: number;
  ok: boolean;
  headers: Record<string, string>;
  text: string;
  json: any;
}

export interface RequestOptions {
  query?: Record<string, unknown>;
  body?: unknown;
  headers?: Record<string, string>;
  /** false: send no Authorization/X-API-Key. */
  auth?: boolean;
}

export declare class TaskhubApi {
  constructor(options?: ApiOptions);
  baseUrl: string;
  token: string | null;
  refreshToken: string | null;
  apiKey: string | null;

  url(path: string, query?: Record<string, unknown>): string;
  raw(method: string, path: string, opts?: RequestOptions): Promise<RawResponse>;
  request<T = any>(method: string, path: string, opts?: RequestOptions): Promise<T>;

  register(body: { username: string; email: string; password: string }): Promise<TokenResponse>;
  login(login: string, password: string): Promise<TokenResponse>;
  login(body: { login?: string; username?: string; email?: string; password: string }): Promise<TokenResponse>;
  testLogin(email: string): Promise<TokenResponse>;
  refresh(refreshToken?: string): Promise<TokenResponse>;
  logout(refreshToken?: string): Promise<unknown>;
  me(): Promise<User>;

  /** `opts.idempotencyKey`: the same call again returns the task the first one made. */
  createTask(params: CreateTaskParams | FormData, opts?: { idempotencyKey?: string }): Promise<Task>;
  listTasks(query?: { page?: number; pageSize?: number; status?: TaskStatus }): Promise<Page<Task>>;
  getTask(videoId: string): Promise<Task>;
  events(videoId: string, sinceSeq?: number): Promise<any>;
  cancel(videoId: string): Promise<Task>;
  /** `opts.idempotencyKey`: the same call again returns the task the first one made. */
  retry(videoId: string, opts?: { idempotencyKey?: string }): Promise<Task>;
  delete(videoId: string): Promise<unknown>;
  content(videoId: string): Promise<{ videoId: string; externalVideoId: string | null; url: string }>;
  stats(): Promise<any>;
  models(): Promise<any>;

  credits(): Promise<any>;
  profile(): Promise<Profile>;
  updateProfile(patch: ProfilePatch): Promise<Profile>;
  recentUsers(): Promise<{ totalUsers: number; users: { displayName: string; avatarUrl: string | null }[] }>;
  creditTransactions(query?: { page?: number; pageSize?: number }): Promise<any>;
  paymentPackages(): Promise<any>;
  health(): Promise<any>;
}
