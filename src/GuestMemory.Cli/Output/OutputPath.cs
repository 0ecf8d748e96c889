namespace GuestMemory.Cli.Output;

/// <summary>
/// Checks, before any work starts, that the files a command will write can be written: a demo that runs
/// for minutes must not fail at its last step because the report's folder does not exist.
/// </summary>
internal static class OutputPath
{
    /// <summary>
    /// Checks that <paramref name="path"/> can be created or replaced (its folder exists and takes a new
    /// file; it is not a folder itself) and returns its full path.
    /// </summary>
    /// <param name="what">What the file is, for the message ("report", "results").</param>
    /// <exception cref="CliException"><see cref="CliError.IoError"/> or <see cref="CliError.AccessDenied"/>.</exception>
    public static string CheckFile(string path, string what)
    {
        string full = Path.GetFullPath(path);
        if (Directory.Exists(full)) throw new CliException(CliError.IoError, $"cannot write the {what} to {path}: it is a directory");
        CheckDirectory(Path.GetDirectoryName(full)!, $"the {what} {path}");
        return full;
    }

    /// <summary>Checks that files can be created in the folder <paramref name="directory"/> (which must exist) and returns its full path.</summary>
    /// <param name="what">What will be written there, for the message.</param>
    public static string CheckDirectory(string directory, string what)
    {
        string full = Path.GetFullPath(directory);
        if (!Directory.Exists(full)) throw new CliException(CliError.IoError, $"cannot write {what}: the directory {full} does not exist");
        string probe = Path.Combine(full, $".gmm-write-check-{Environment.ProcessId}-{Guid.NewGuid():N}");
        try
        {
            using var _ = new FileStream(probe, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.DeleteOnClose);
        }
        catch (UnauthorizedAccessException)
        {
            throw new CliException(CliError.AccessDenied, $"cannot write {what}: no permission to create files in {full}");
        }
        catch (IOException e)
        {
            throw new CliException(CliError.IoError, $"cannot write {what} in {full}: {e.Message}");
        }
        return full;
    }
}
