using System.CommandLine;
using System.Globalization;
using System.Numerics;

namespace GuestMemory.Cli.Commands;

/// <summary>Range checks for numeric options, with the short message every bad option gets.</summary>
internal static class OptionRange
{
    /// <summary>
    /// Adds a validator that keeps the option within [<paramref name="min"/>, <paramref name="max"/>]
    /// (<paramref name="unit"/> is appended to the message). A value that does not parse as a number is
    /// left to the parser's own error: reading it here would throw instead of reporting.
    /// </summary>
    public static Option<T> Within<T>(this Option<T> option, T min, T max, string unit = "") where T : INumber<T>
    {
        option.Validators.Add(r =>
        {
            foreach (var token in r.Tokens)
                if (!T.TryParse(token.Value, NumberStyles.Float, CultureInfo.InvariantCulture, out _)) return;
            T value = r.GetValueOrDefault<T>();
            if (value < min || value > max)
                r.AddError($"{option.Name} must be {min.ToString(null, CultureInfo.InvariantCulture)}..{max.ToString(null, CultureInfo.InvariantCulture)}{unit}");
        });
        return option;
    }
}
