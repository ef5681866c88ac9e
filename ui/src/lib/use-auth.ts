// The sign-in state as a hook, for components that show or hide things by it.
import { useEffect, useState } from 'preact/hooks';
import { authState, subscribeAuth, type AuthState } from '../api/auth.ts';

/** The current sign-in state, re-rendering on every change. */
export function useAuth(): AuthState {
  const [state, setState] = useState(authState);
  useEffect(() => {
    setState(authState());
    return subscribeAuth(setState);
  }, []);
  return state;
}
