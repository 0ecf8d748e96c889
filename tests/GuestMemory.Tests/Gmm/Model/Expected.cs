namespace GuestMemory.Tests.Gmm.Model;

/// <summary>What the model says a call must do: succeed, fail with one of some errors, or (when the model cannot know) either.</summary>
internal sealed record Expected(bool MaySucceed, GmmError[] Errors)
{
    public static readonly Expected Success = new(true, []);

    public static Expected Failure(params GmmError[] errors) => new(false, errors);

    public Expected OrFailure(GmmError error) => this with { Errors = [.. Errors, error] };

    public override string ToString() =>
        string.Join(" or ", (MaySucceed ? new[] { "success" } : []).Concat(Errors.Select(e => e.ToString())));
}
