using System.Diagnostics;
using System.Text.RegularExpressions;

namespace GuestMemory.Qemu;

/// <summary>
/// The <c>qemu-system-x86_64</c> program this layer starts: found on PATH (or at a given path) and
/// checked to be at least <see cref="MinimumVersion"/>.
/// </summary>
public sealed partial record QemuBinary(string Path, Version Version)
{
    /// <summary>
    /// The oldest QEMU this layer is tested with (Debian 12's 7.2). What it relies on is older
    /// (<c>-machine memory-backend</c> since 5.0, <c>server=on</c> chardev syntax since 6.0), but an
    /// untested QEMU is refused rather than trusted.
    /// </summary>
    public static readonly Version MinimumVersion = new(7, 2);

    /// <summary>The program name looked for on PATH.</summary>
    public const string ProgramName = "qemu-system-x86_64";

    /// <summary>What to install when QEMU is missing.</summary>
    public const string InstallHint = "install Debian's qemu-system-x86 (apt-get install --no-install-recommends qemu-system-x86) or pass the path to qemu-system-x86_64";

    /// <summary>Finds QEMU (at <paramref name="path"/> when given, else on PATH) and checks its version.</summary>
    /// <exception cref="QemuException"><see cref="QemuError.QemuNotFound"/> or <see cref="QemuError.QemuTooOld"/>.</exception>
    public static QemuBinary Find(string? path = null)
    {
        string program = path ?? FindOnPath(ProgramName)
            ?? throw new QemuException(QemuError.QemuNotFound, $"{ProgramName} is not on PATH: {InstallHint}");
        if (!File.Exists(program)) throw new QemuException(QemuError.QemuNotFound, $"{program} does not exist: {InstallHint}");
        string output = RunVersion(program);
        Version version = ParseVersion(output)
            ?? throw new QemuException(QemuError.QemuTooOld, $"cannot read the version of {program} from '{output.Trim()}'");
        if (version < MinimumVersion)
            throw new QemuException(QemuError.QemuTooOld, $"{program} is QEMU {version}; this needs {MinimumVersion} or newer: {InstallHint}");
        return new QemuBinary(program, version);
    }

    /// <summary>Reads "QEMU emulator version 7.2.22 (Debian ...)" as 7.2.22; null when there is no version.</summary>
    public static Version? ParseVersion(string versionOutput)
    {
        ArgumentNullException.ThrowIfNull(versionOutput);
        Match m = VersionPattern().Match(versionOutput);
        return m.Success ? new Version(int.Parse(m.Groups[1].Value), int.Parse(m.Groups[2].Value), m.Groups[3].Success ? int.Parse(m.Groups[3].Value) : 0) : null;
    }

    /// <summary>The first executable file named <paramref name="name"/> in a PATH folder, or null.</summary>
    public static string? FindOnPath(string name)
    {
        foreach (string dir in (Environment.GetEnvironmentVariable("PATH") ?? "/usr/local/bin:/usr/bin:/bin").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            string candidate = System.IO.Path.Combine(dir, name);
            if (File.Exists(candidate) && !OperatingSystem.IsWindows() && (File.GetUnixFileMode(candidate) & UnixFileMode.UserExecute) != 0) return candidate;
        }
        return null;
    }

    private static string RunVersion(string program)
    {
        var start = new ProcessStartInfo(program, "--version") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        try
        {
            using Process process = Process.Start(start)!;
            Task<string> output = process.StandardOutput.ReadToEndAsync();
            Task<string> errors = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(TimeSpan.FromSeconds(30)))
            {
                process.Kill();
                throw new QemuException(QemuError.Timeout, $"{program} --version did not answer within 30 s");
            }
            return output.Result + errors.Result;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new QemuException(QemuError.QemuNotFound, $"{program} cannot be run ({e.Message}): {InstallHint}", e);
        }
    }

    [GeneratedRegex(@"version (\d+)\.(\d+)(?:\.(\d+))?")]
    private static partial Regex VersionPattern();
}
