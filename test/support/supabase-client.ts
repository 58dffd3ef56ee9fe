// supabase-js as the tests run it in process: no stored session, no refresh of its own. On Node 20 (no global
// WebSocket without --experimental-websocket) its realtime client gets a transport that throws if ever used:
// nothing in the tests uses realtime, and `createClient` needs one to start.
import { createClient, type SupabaseClient } from '@supabase/supabase-js';

class NoWebSocket {
  constructor() {
    throw new Error('No WebSocket on this Node version.');
  }
}

export function inProcessSupabase(url: string): SupabaseClient {
  return createClient(url, 'anon-key', {
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
    ...(typeof globalThis.WebSocket === 'function' ? {} : { realtime: { transport: NoWebSocket as never } }),
  });
}
