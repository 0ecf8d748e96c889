using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace GuestMemory.Cli;

/// <summary>The logger factory commands hand to the library: console logging to standard error with --verbose, none otherwise.</summary>
internal static class CliLogging
{
    public static ILoggerFactory Create(bool verbose) => verbose
        ? LoggerFactory.Create(builder => builder
            .SetMinimumLevel(LogLevel.Information)
            .AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss.fff "; })
            .AddFilter("Microsoft", LogLevel.Warning)
            .AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace))
        : NullLoggerFactory.Instance;
}
