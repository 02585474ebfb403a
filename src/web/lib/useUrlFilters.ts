// A page's filters kept in its URL's query, so a view can be shared or reloaded.
import { useCallback } from 'react';
import { useSearchParams } from 'react-router-dom';

/**
 * The URL's query and a setter of one filter: an empty value removes the parameter, and
 * the change replaces the history entry (typing into a filter does not fill Back).
 */
export function useUrlFilters() {
  const [params, setParams] = useSearchParams();
  const setParam = useCallback(
    (key: string, value: string | null) =>
      setParams(
        (prev) => {
          const next = new URLSearchParams(prev);
          if (value) next.set(key, value);
          else next.delete(key);
          return next;
        },
        { replace: true },
      ),
    [setParams],
  );
  /** every filter off */
  const clear = useCallback(() => setParams({}, { replace: true }), [setParams]);
  return { params, setParam, clear };
}
