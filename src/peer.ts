/**
 * @internal
 * Loads an optional peer dependency for a subpath entry. When it is not installed, the entry fails
 * with an error that says which package to install (`code` stays `ERR_MODULE_NOT_FOUND`), instead of
 * Node's "Cannot find package" naming a file inside tasklane. Any other failure passes through.
 * `load` is the literal `import()` of the package, so tools that trace imports still see it.
 */
export async function importPeer<T>(name: string, entry: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (error) {
    const missing =
      (error as { code?: unknown } | null)?.code === 'ERR_MODULE_NOT_FOUND' &&
      error instanceof Error &&
      error.message.includes(`'${name}'`);
    if (!missing) throw error;
    const explained = new Error(
      `${entry} needs ${name}, an optional peer dependency of tasklane: run \`npm install ${name}\` and try again.`,
      {
        cause: error,
      },
    );
    (explained as Error & { code: string }).code = 'ERR_MODULE_NOT_FOUND';
    throw explained;
  }
}
